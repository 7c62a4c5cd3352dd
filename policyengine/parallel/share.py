"""A worker of `eval --workers`: the evaluator that runs the rules of one share of the members and
moves the clock for the others, tagging each decision with where one worker would have made it.

Each worker keeps the one event clock — watermark, late events, timers due — so time runs
exactly as on one worker; it runs the rules only for its share of members. A leaderboard of
members' own scores is ranked whole at each close, every worker writing its members' part to the
spool and reading the others' (ShareEvaluator._combine_board). Every decision is tagged with where
one worker would have made it — the number of the event, timers before the event's own rules, due
timers in (due, setting event, place among the timer's decisions) order — and the streams are
merged on that tag (parallel/merge.py).
"""
from __future__ import annotations

import os
import time

import msgspec

from policyengine.compiler import CompiledProgram
from policyengine.events.clock import Clock, taking
from policyengine.events.native import split_lines
from policyengine.events.routing import parted, route, route_fields, routed, scan_ahead, split_spans
from policyengine.events.timestamps import format_ts
from policyengine.logs import line_batches
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.helpers import RouteDiverged, share_of
from policyengine.runtime.incentives import PLACE_BITS

END = 1 << 62                # the position of decisions made after the last event (`--until`)
# a timer's decision's merge key: setting event × 2**PLACE_SHIFT + its place, which holds
# incentives.award_place's three fields (award, rank, nth)
PLACE_SHIFT = 3 * PLACE_BITS
FIRST_EVENT = -(1 << 63)     # a clock's `due` that no event's time passes cleanly: the first event reaches Python
GONE = "gone-%d"             # in the spool: this worker has left (done, stopped or dead)
PEER_GONE = "another worker left before a leaderboard closed"
PEER_WAIT_S = 30.0           # the longest a worker waits at a close for another's part


class PeerGone(Exception):
    """Another worker left before it wrote its part of a leaderboard: the run cannot go on exact."""


class BoardOverlap(RouteDiverged):
    """Two workers' parts of a leaderboard held the same member (compiler/partition.py lets a board
    through only where each member's entry is one worker's): the run goes to one worker, and its
    note says this, not that a line was refused."""


def timer_key(order: int, place: int) -> int:
    """A timer's decision's last merge-key number: the timers due at one instant fire in the order
    of the events that set them, and a timer's decisions in their places (Timeline.fire_until)."""
    if place >= 1 << PLACE_SHIFT or order >= 1 << (62 - PLACE_SHIFT):
        raise OverflowError("a timer's decisions are too many to place for the merge")
    return order << PLACE_SHIFT | place


class ShareEvaluator(Evaluator):
    """An evaluator that runs the rules only for members of one share; for the others it moves
    the clock on exactly as `process` would. `tags` maps each returned decision to its merge key."""

    def __init__(self, compiled: CompiledProgram, share: int, shares: int | bytes, exchange=None,
                 workers: int = 0, spool: str = ""):
        super().__init__(compiled)
        self.share, self.shares, self.exchange = share, shares, exchange
        self.workers, self.spool = workers, spool
        # Leaderboards (compiler/partition.py lets through those whose members each belong to one
        # worker): each worker's board is written to the spool at a close and read by the others,
        # and each awards its own winners. Periods start at the log's first event, whichever
        # worker's it is: until then no event's time is taken past Python (FIRST_EVENT).
        self._starting = self.has_periods and self.store.events_seen == 0
        if self.has_periods:
            self.rewards.combine_board = self._combine_board
            self.rewards.awards_member = lambda member: share_of(member, shares) == share
            if self._starting:
                self.store.clock.due = FIRST_EVENT
        self.tags: dict[int, tuple] = {}
        self._process_dict = super().process             # bound once: super() on every event cost 0.1 µs
        self._process_record = super().process_record
        # The record loop with this share's steps (compiler/loop.py: _routed_line), over lines
        # routed first (replay calls route_batch).
        self.record_loop = self.share_loop
        self._route_fields = route_fields(compiled.record) if compiled.record is not None else ()
        # A split log (splitlog/): its clock and unsure lines while it is read, the chunk last routed
        self._split = None
        self._parted = None

    def process(self, event: dict, ts: int) -> list[dict]:
        return self._step(event, ts, event["user"], self._process_dict)

    def owns(self, user) -> bool:
        """Whether this worker runs `user`'s rules (and counts their events for --report)."""
        return share_of(user, self.shares) == self.share

    def process_record(self, record, ts: int) -> list[dict]:
        return self._step(record, ts, record.user, self._process_record)

    def advance(self, until: int, keys: list | None = None) -> list[dict]:
        keys = []
        out = super().advance(until, keys)
        for decision, (due, order, place) in zip(out, keys):
            self.tags[id(decision)] = (END, 0, due, timer_key(order, place))
        return out

    def route_batch(self, lines):
        """`lines` as the shared record loop takes them: this share's lines, other shares' times,
        (line,) for lines every worker decodes (events/routing.py), the times the clock takes
        cleanly taken as the loop goes (events/clock.py: `taking`) — in one pass in C where built
        (events/_route.c: `routed`)."""
        clock = self.store.clock
        if self._split is not None:
            # a split log: this share's own lines, the clock walked from where the chunk before
            # stopped; an empty chunk is the last, after which the clock is walked to its end
            entries, unsure = self._split
            position = self._parted.position if self._parted is not None else 0
            self._parted = parted(lines, entries, position, self.share, clock, self.store.crowded_index(), unsure,
                                  len(lines) == 0)
            return self._parted
        if routed is not None and type(clock) is Clock:
            # with many members, their rows of the lines ahead asked of memory (runtime/store.py)
            return routed(lines, self._route_fields, self.shares, self.share, self.exchange, clock,
                          self.store.crowded_index())
        return taking(clock, route(lines, self._route_fields, self.shares, self.share, self.exchange))

    def batches(self, log, limit: int):
        """The log's chunks as spans (events/_route.c: split_spans; an other share's line is never
        made into bytes), each with the next one's scans made first (with an exchange): the other
        workers find them there while this one runs the rules on it. Of a split log (splitlog/),
        this share's part's chunks, then an empty one: route_batch walks the clock with them."""
        if hasattr(log, "part_batches"):
            yield from self._split_batches(log, limit)
            return
        batches = iter(line_batches(log.stream, limit, split=split_spans or split_lines))
        if self.exchange is None:
            yield from batches
            return
        current = next(batches, None)
        if current is None:
            return
        scan_ahead(current, self._route_fields, self.shares, self.share, self.exchange)
        while True:
            try:
                following = next(batches, None)
            except Exception:
                # The log is damaged past this chunk (a gzip stream cut short or corrupt): its lines
                # are evaluated before the error is said, as one worker, which reads no chunk
                # ahead, does. Every worker reads the log and meets the error at the same line.
                yield current
                raise
            if following is None:
                break
            scan_ahead(following, self._route_fields, self.shares, self.share, self.exchange)
            yield current
            current = following
        yield current

    def _split_batches(self, log, limit: int):
        self._split, self._parted = (log.clock(), log.unsure_lines(limit)), None
        try:
            yield from log.part_batches(self.share, limit, split_spans or split_lines)
            yield []
        finally:
            self._split = self._parted = None       # the clock's mapping is closed with the log

    def tick(self, ts: int) -> list[dict]:
        """`process` for an event of another share's member: due timers fire (tagged), the clock
        moves, no rule runs."""
        fired = self._fire_due(ts)
        store = self.store
        if store.watermark is None or ts > store.watermark:
            store.watermark = ts
        elif ts < store.watermark:
            self.late_events += 1
        store.events_seen += 1
        if self._starting:
            self._started(ts)
        if store.events_seen >= store.next_sweep:
            store.sweep(store.watermark, self.widths)
        return fired

    def _step(self, event, ts: int, user, process) -> list[dict]:
        # Only lines the route left to every worker, late events and events with a timer due come
        # here: the member's share is worked out again each time (a cache of it held every member).
        if share_of(user, self.shares) != self.share:
            return self.tick(ts) or _NONE
        fired = self._fire_due(ts)
        own = process(event, ts)                            # no timer is due any more
        if self._starting:
            self._started(ts)
        store = self.store
        for i, decision in enumerate(own):
            self.tags[id(decision)] = (store.events_seen, 1, i, 0)
        return fired + own if fired else own

    def _fire_due(self, ts: int) -> list[dict]:
        """The timers due by the event at `ts`, fired as `process` would first, tagged."""
        store = self.store
        fired: list[dict] = []
        now = ts if store.watermark is None or ts > store.watermark else store.watermark
        if store.timers and store.timers[0][0] <= now:
            keys: list = []
            self.timeline.fire_until(now, fired, keys)
            for decision, (due, order, place) in zip(fired, keys):
                self.tags[id(decision)] = (store.events_seen + 1, 0, due, timer_key(order, place))
        return fired

    def _started(self, ts: int) -> None:
        """After the log's first event: its periods started (by process_record if it was this
        share's), and the clock's due time the timers' again."""
        self._starting = False
        self.rewards.start(ts)
        self.store.settle_due()

    def _combine_board(self, every: int, award: int, due: int, board, allowed) -> dict:
        """The whole leaderboard at a close, of members who may win (`allowed`, asked by each
        worker of its own: their joins and labels are its): this worker's part written to the
        spool, the others' read from it as they come (every worker reaches the close at the same
        event). A member's entry is one worker's (compiler/partition.py), so the parts are joined,
        not summed: one worker's sums, in its order. PeerGone if a worker left before writing."""
        name = f"board-{every}-{award}-{due}-%d"
        mine = os.path.join(self.spool, name % self.share)
        entries = {member: tuple(entry) for member, entry in board.items() if allowed is None or allowed(member)}
        with open(mine + ".part", "wb") as f:
            f.write(msgspec.msgpack.encode(entries))
        os.replace(mine + ".part", mine)                   # whole or not there
        for other in range(self.workers):
            if other == self.share:
                continue
            path = os.path.join(self.spool, name % other)
            _wait_for(path, os.path.join(self.spool, GONE % other))
            with open(path, "rb") as f:
                theirs = msgspec.msgpack.decode(f.read())
            if not entries.keys().isdisjoint(theirs):
                raise BoardOverlap(f"a leaderboard's member was counted by two workers (the close at {format_ts(due)})")
            entries.update((member, tuple(entry)) for member, entry in theirs.items())
        return entries


_NONE: tuple = ()


def _wait_for(path: str, gone: str, limit: float = PEER_WAIT_S) -> None:
    """Until `path` exists; PeerGone if `gone` does first (a leaderboard's close, once a period),
    or after `limit` seconds. Every worker reaches each close at the same event, within a chunk or
    two of each other; one that never did would wait, scanning nothing, while the other waits
    for its scans (events/_route.c) — a bug, but not a hang: the run goes to one worker."""
    pause, waited = 0.0001, 0.0
    while not os.path.exists(path):
        if os.path.exists(gone) and not os.path.exists(path):   # it may have written, then left
            raise PeerGone(path)
        if waited >= limit:
            raise PeerGone(f"{path}: not written within {limit:.0f} s")
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.002)

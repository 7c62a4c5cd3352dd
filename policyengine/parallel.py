"""`eval --workers N`: members split across N processes, decisions merged back into one order.

Each worker keeps the one event clock — watermark, late events, timers due — so time runs
exactly as on one worker; it runs the rules only for its share of members (a stable hash of
`user` into 1 024 buckets, the buckets shared out so the head of the log's events fall evenly:
balanced_partition). That is exact only for programs whose state all belongs to the event's member
(compiler/partition.py says which); a leaderboard of members' own scores is ranked whole at each
close, every worker writing its members' part to the spool and reading the others'
(ShareEvaluator._combine_board). Every decision is tagged with where one worker would have made
it — the number of the event, timers before the event's own rules, due timers in (due, setting
event, place among the timer's decisions) order — and the streams are merged on that tag.

Each worker reads every line, but decodes only its own members' events: a scan in C
(events/_route.c) gives it the time alone of another share's event, which is all its clock
needs. The scan of each line is made by one worker, blocks of lines in turn, and shared with the
others through memory they inherit (events/routing.py: Exchange); each worker makes its scans of
the next chunk before it runs the rules on this one (ShareEvaluator.batches). A worker's chunks
are spans of the bytes read, and its loop is handed only its own lines and the times its clock
does not take cleanly (routed): another share's line never becomes a Python object. A line the
scan is not sure of, every worker decodes and judges as before. If a line the scan was sure of is
refused by the decoder after all, the other workers' clocks are wrong: the run stops and eval
runs again on one worker, with a note. So it does if a worker dies without an answer.
"""
from __future__ import annotations

import bisect
import contextlib
import gzip
import mmap
import multiprocessing
import multiprocessing.connection
import operator
import os
import signal
import tempfile
import time
import zlib
from typing import NamedTuple

import msgspec
import orjson

from policyengine.compiler import CompiledProgram
from policyengine.events.decode import EventDecoder
from policyengine.events.native import split_lines
from policyengine.events.clock import Clock, taking
from policyengine.events.routing import EXCHANGE_WORKERS, Exchange, bucket_counts, route, route_fields, routed
from policyengine.events.routing import scan_ahead, split_spans
from policyengine.events.timestamps import format_ts
from policyengine.logs import CHUNK, LogOpenError, check_readable, line_batches, open_log
from policyengine.output.decisions import MERGE_KEY_BYTES, dump_tagged, merge_spooled
from policyengine.replay import ReplayStats, StrictStop, replay
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.helpers import RouteDiverged, member_crc, share_of
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
        if routed is not None and type(clock) is Clock:
            # with many members, their rows of the lines ahead asked of memory (runtime/store.py)
            return routed(lines, self._route_fields, self.shares, self.share, self.exchange, clock,
                          self.store.crowded_index())
        return taking(clock, route(lines, self._route_fields, self.shares, self.share, self.exchange))

    def batches(self, stream, limit: int):
        """The log's chunks as spans (events/_route.c: split_spans; an other share's line is never
        made into bytes), each with the next one's scans made first (with an exchange): the other
        workers find them there while this one runs the rules on it."""
        batches = iter(line_batches(stream, limit, split=split_spans or split_lines))
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


class Job(msgspec.Struct):
    compiled: CompiledProgram
    logs: list[str]
    shares: int
    strict: bool
    max_line: int
    allowed_lateness_us: int
    until: int | None
    spool: str = ""                # a folder for the workers' decisions
    partition: bytes = b""         # members' buckets to shares (balanced_partition); empty: by CRC-32 alone
    report: bool = False           # each worker counts what `--report` shows of its members' events


# Members go to workers by bucket (CRC-32 of the name modulo BUCKETS), buckets to workers so that
# a sample of the log's events fall evenly: by CRC-32 alone the benchmark log's members split its
# events 53 % / 47 %, and the busier share set the wall clock. The sample is STRETCHES windows of
# WINDOW bytes spread over the first log (its head alone gave 51.8 % / 48.2 %: members' activity
# drifts; spread, 49.9 %), or, where the log cannot be read from the middle (compressed) or is
# small, its first SAMPLE_LINES lines. It only steers the balance: whatever it holds, every worker
# gets the same partition, so the decisions do not depend on it.
BUCKETS = 1024
SAMPLE_LINES = 16_000
STRETCHES = 16
WINDOW = 128 * 1024


def balanced_partition(logs: list[str], shares: int, max_line: int, fields: tuple = (),
                       sample: int = SAMPLE_LINES) -> bytes:
    """A partition of members' buckets among `shares` workers, the events of a sample of the first
    log spread evenly: the busiest bucket first, each to the least-loaded worker (the
    lowest-numbered of equals); buckets the sample did not meet by their number. `fields`: the
    program's record layout for the scan (events/routing.py), which counts the sample in C; without
    it, orjson reads it. Empty (members by CRC-32 alone) where the log cannot be read twice
    (standard input, a pipe by name), or for one worker, or more than a byte can name."""
    if shares < 2 or shares > 255 or not logs or logs[0] == "-":
        return b""
    try:
        check_readable(logs[:1])             # a regular file: a pipe by name read here would be lost to the workers
        log = open_log(logs[0])
    except LogOpenError:
        return b""                           # the workers meet it again and say so
    try:
        lines = _sample_lines(log, max_line, sample)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        lines = []                           # a damaged log: balance by CRC-32; replay reports it
    finally:
        log.close()
    counts = bucket_counts(lines, fields, BUCKETS) if fields and bucket_counts is not None else _counted(lines)
    loads = [0] * shares
    partition = bytearray(b % shares for b in range(BUCKETS))
    for bucket in sorted((b for b in range(BUCKETS) if counts[b]), key=lambda b: (-counts[b], b)):
        least = min(range(shares), key=lambda s: (loads[s], s))
        partition[bucket] = least
        loads[least] += counts[bucket]
    return bytes(partition)


def _sample_lines(log, max_line: int, sample: int) -> list:
    """Whole lines from STRETCHES windows spread evenly over a plain log larger than all of them
    (a line cut by a window's edge left out); of a compressed or smaller one, its first `sample`."""
    if log.raw is not None or log.size is None or log.size <= STRETCHES * WINDOW:
        lines = []
        for batch in line_batches(log.stream, max_line):
            lines += batch[:sample - len(lines)]
            if len(lines) >= sample:
                break
        return lines
    lines = []
    for k in range(STRETCHES):
        start = k * log.size // STRETCHES
        # pread: a seek and read through the log's 1 MiB buffer read 1 MiB a window
        data = os.pread(log.stream.fileno(), WINDOW + (start > 0), max(start - 1, 0))
        if start > 0:                        # from the first line that starts in the window
            data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
        cut = data.rfind(b"\n")             # to the last whole line
        lines += [line for line in split_lines(data[:cut], max_line, b"") if line is not None] if cut >= 0 else []
    return lines


def _counted(lines: list) -> list[int]:
    """bucket_counts where there is no scan: orjson reads each line's `user`."""
    counts = [0] * BUCKETS
    for line in lines:
        try:
            user = orjson.loads(line).get("user") if line is not None else None
        except (orjson.JSONDecodeError, AttributeError):
            continue                     # a bad line or not an object: counted by nobody
        if user.__class__ is str:
            counts[member_crc(user) % BUCKETS] += 1
    return counts


_job: Job | None = None          # set before the workers fork; they inherit it
_shared = None                   # the workers' scans' shared memory (events/routing.py: Exchange), inherited too


class ShareResult(NamedTuple):
    """What a worker sends back; its decisions are in the spool file at `path`."""
    path: str
    reports: list[tuple]             # (log, line position, share, order, message)
    stats: ReplayStats
    stopped: bool                    # --strict stopped at a bad line
    diverged: str | None             # a line routed as an event that the decoder refused
    report: object = None            # its ReportSummary, for --report


def _work(share: int):
    """One share's run. Decisions go to a file as they come, a line each: the merge key
    (output/decisions.py: merge_key) and the decision's JSON, so a worker holds none of them in
    memory; the rest comes back to the parent."""
    job = _job
    exchange = Exchange(_shared, job.shares, share) if _shared is not None else None
    evaluator = ShareEvaluator(job.compiled, share, job.partition or job.shares, exchange, job.shares, job.spool)
    decoder = EventDecoder(job.compiled.plan.field_types)
    stats = ReplayStats()
    reports: list[tuple] = []
    log_index = 0
    path = os.path.join(job.spool, f"share{share}.jsonl")
    spool = open(path, "wb")
    write, tags = spool.write, evaluator.tags
    # --report: the worker counts its members' events (replay asks ShareEvaluator.owns of a line
    # every worker judges) and the decisions it makes; the parts add up to one worker's counts.
    observer = None
    if job.report:
        from policyengine.report.collect import ReportData
        observer = ReportData()

    # Decisions are tagged by identity, so they are written as they come, records included (a
    # dict made of a record would be another object): dump_tagged writes both as orjson would,
    # each after its merge key, a stretch's at once.
    def emit(decision: dict) -> None:     # replay hands decisions on a stretch at a time: `many`
        many((decision,))

    def many(decisions: list) -> None:
        pop = tags.pop
        if observer is not None:
            observer.observe_decisions(decisions)
        write(dump_tagged(decisions, [pop(id(d)) for d in decisions]))
    many.takes_records = True
    emit.many = many

    def report(message: str) -> None:
        reports.append((log_index, stats.events + stats.bad_lines, share, len(reports), message))

    stopped, diverged = False, None
    try:
        for log_index, name in enumerate(job.logs):
            log = open_log(name)
            try:
                # Bad lines and late events are the same in every worker: share 0 tells them.
                replay(log, evaluator, decoder, emit, report, stats, job.strict, max_line=job.max_line,
                       allowed_lateness_us=job.allowed_lateness_us, about_input=share == 0, observer=observer)
            finally:
                log.close()
        if job.until is not None:
            fired = evaluator.advance(job.until)
            for decision in fired:
                stats.decisions[(decision["policy"], decision["rule"], decision["action"])] += 1
            many(fired)
    except StrictStop:
        stopped = True
    except BoardOverlap as err:
        diverged = err.args[0]
    except RouteDiverged as err:
        diverged = f"a line routed as an event was refused by its worker's decoder ({job.logs[log_index]}: {err.args[0][:80]!r})"
    except PeerGone:
        diverged = PEER_GONE
    finally:
        spool.close()
    summary = observer.summary() if observer is not None and diverged is None else None
    return ShareResult(path, reports, stats, stopped, diverged, summary)


def _ring_lines(shares: int) -> int:
    """The lines the workers' exchange holds: more than four of replay's longest chunks
    (logs.CHUNK bytes of empty lines, and an over-long one) and a block of 256 a worker, which
    events/_route.c needs so that no two workers can wait for each other for ever, and which no
    worker gets further ahead than anyway; rounded up to a power of two, so that a line's slot is
    found by a mask, not a 64-bit division a line (events/_route.c; with the route's other masks
    and its CRC, two workers over 10M events 1.03× faster). Two million lines, 16 MiB, all of it
    touched on logs that long."""
    least = 4 * (CHUNK + 1) + 256 * shares + 1
    return 1 << (least - 1).bit_length()


def _child(share: int, conn, parent: int, prctl) -> None:
    """A worker process: _work's answer to the parent; whatever stopped it, it leaves the
    exchange, so that the others scan its blocks themselves from there on."""
    _die_with(parent, prctl)
    try:
        conn.send((True, _work(share)))
    except BaseException as err:          # handed to the parent, which raises it as Pool.map did
        conn.send((False, err))
    finally:
        if _shared is not None:           # however _work ended, no other worker waits for its scans
            Exchange(_shared, _job.shares, share).leave()
        _leave_spool(share)               # … nor for its part of a leaderboard
        conn.close()


PR_SET_PDEATHSIG = 1


def _parent_death_call():
    """libc's prctl, where there is one (Linux), looked up in the parent: each worker is forked
    with it, and asks for SIGKILL when the parent dies."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with(parent: int, prctl) -> None:
    """A worker ends when the parent does. A parent killed (kill -9, a caller's timeout) left its
    workers waiting for each other's scans for ever: forty of them spun for an hour on this
    machine, the thirty-second session's slow benchmarks."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:             # it died before the call: no signal will come
        os._exit(1)


def _leave_spool(share: int) -> None:
    """Say in the spool that worker `share` has left (ShareEvaluator._combine_board waits on it)."""
    with contextlib.suppress(OSError):
        open(os.path.join(_job.spool, GONE % share), "wb").close()


def _run_workers(shares: int) -> list[ShareResult] | str:
    """`_work` for each share, each in a process of its own, all at once: a worker waits for the
    others' scans (events/_route.c), so two shares must never be queued on one process, as a
    Pool may do. A worker that dies without an answer (killed, out of memory) is marked gone in
    the exchange, so that no other waits for its scans, and the run is said to need one worker."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    parent, prctl = os.getpid(), _parent_death_call()
    try:
        for share in range(shares):
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(share, theirs, parent, prctl), daemon=True)
            process.start()
            theirs.close()
            pipes.append(ours)
            processes.append(process)
        answers: dict[int, tuple] = {}
        dead = []
        waiting = {pipe: share for share, pipe in enumerate(pipes)}
        while waiting:
            for pipe in multiprocessing.connection.wait(list(waiting)):
                share = waiting.pop(pipe)
                try:
                    answers[share] = pipe.recv()
                except EOFError:
                    dead.append(share)
                    if _shared is not None:
                        Exchange(_shared, shares, share).leave()
                    _leave_spool(share)
        if dead:
            code = processes[dead[0]].exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return f"worker {dead[0] + 1} of {shares} stopped without an answer ({how})"
        for share in range(shares):
            ok, answer = answers[share]
            if not ok:
                raise answer
        return [answers[share][1] for share in range(shares)]
    except BaseException:
        # Stopped here (a worker that could not be started, an interrupt): the workers started
        # would wait for the others' scans; each was joined for 5 s in turn, 40 of them 200 s.
        for process in processes:
            process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


_KEY = operator.itemgetter(slice(MERGE_KEY_BYTES))           # a spooled line's merge key


def merged(files: list, block: int = 1 << 18):
    """Lists of the spooled lines of `files` (each sorted by its key), in the order heapq.merge
    gives them — by key, equal keys in the files' order — reading about `block` bytes at a time.
    Each list is put in order by one stable sort in C (sorted runs: a galloping merge): ~0.2 µs a
    decision where heapq.merge's loop in Python cost the parent 0.8. Memory stays within a few
    blocks a file, whatever the run decides."""
    pending: list[list[bytes]] = [[] for _ in files]
    live = list(range(len(files)))
    while live:
        # read on in each file whose lines read are all out, and in the one furthest behind
        behind = min(live, key=lambda i: _KEY(pending[i][-1]) if pending[i] else b"")
        for i in list(live):
            if i == behind or not pending[i]:
                got = files[i].readlines(block)
                if got:
                    pending[i] += got
                else:
                    live.remove(i)
        # A line unread in a live file has a key at least that file's last line read: lines with a
        # smaller key than every such last one are final; equal ones may have equals still to come.
        bound = min((_KEY(pending[i][-1]) for i in live), default=None)
        ready: list[bytes] = []
        for lines in pending:
            cut = len(lines) if bound is None else bisect.bisect_left(lines, bound, key=_KEY)
            ready += lines[:cut]
            del lines[:cut]
        if ready:
            ready.sort(key=_KEY)
            yield ready


def _merged_json(files: list, spools: contextlib.ExitStack, block: int = 1 << 20):
    """The spools' decisions as JSON lines in merged's order, about `block` bytes at a time, their
    keys cut off: merged in C (output/_decisions.c: merge_spooled) from the files mapped into
    memory — merged's Python lines, keys and joins cost ~0.37 us a decision — or by merged."""
    if merge_spooled is None:
        for lines in merged(files):
            yield b"".join([line[MERGE_KEY_BYTES:] for line in lines])
        return
    views = [spools.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
             if os.fstat(f.fileno()).st_size else b"" for f in files]          # an empty file cannot be mapped
    at = [0] * len(views)
    while True:
        chunk, at = merge_spooled(views, at, block)
        if not chunk:
            return
        yield chunk


class SharesRan(NamedTuple):
    messages: list[str]              # in the order one worker says them
    stats: ReplayStats               # the workers' combined
    stopped: bool                    # --strict stopped at a bad line
    report: object                   # the workers' ReportSummary merged (job.report), or None


def run_shares(job: Job, emit, write_json=None) -> SharesRan | str:
    """Run `job` on `job.shares` worker processes and `emit` their decisions in the order one worker
    gives; `write_json`, if given, takes each decision's JSON line instead (as the jsonl writer would
    write it). Returns what they said, found and counted; or, emitting nothing, why the run must be
    made on one worker (a line routed wrongly, a worker that died)."""
    global _job, _shared
    if not job.partition:
        fields = route_fields(job.compiled.record) if job.compiled.record is not None else ()
        job.partition = balanced_partition(job.logs, job.shares, job.max_line, fields)
    with tempfile.TemporaryDirectory(prefix="policyengine-workers-") as spool:
        job.spool, _job = spool, job
        # anonymous and shared: what one worker writes the others see; pages are touched only
        # as the ring fills
        # (past the exchange's 255 workers, each worker scans every line itself, as it once did)
        sharing = Exchange is not None and job.shares <= EXCHANGE_WORKERS
        _shared = mmap.mmap(-1, Exchange.size(job.shares, _ring_lines(job.shares))) if sharing else None
        try:
            results = _run_workers(job.shares)
        finally:
            _job = None
            if _shared is not None:
                _shared.close()
                _shared = None
        if isinstance(results, str):
            return results
        diverged = [result.diverged for result in results if result.diverged not in (None, PEER_GONE)]
        if diverged:
            return diverged[0]
        if any(result.diverged == PEER_GONE for result in results):
            return PEER_GONE
        with contextlib.ExitStack() as spools:
            files = [spools.enter_context(open(result.path, "rb")) for result in results]
            for chunk in _merged_json(files, spools):
                if write_json is not None:
                    write_json(chunk)
                else:
                    for line in chunk.split(b"\n")[:-1]:           # JSON escapes a newline in a string
                        emit(orjson.loads(line))
    reports = [report[4] for report in sorted(report for result in results for report in result.reports)]
    stats = results[0].stats
    for other in results[1:]:
        stats.decisions.update(other.stats.decisions)
        stats.runtime_errors += other.stats.runtime_errors
    summary = None
    if job.report:
        from policyengine.report.collect import ReportSummary
        summary = ReportSummary.merged([result.report for result in results])
    return SharesRan(reports, stats, any(result.stopped for result in results), summary)

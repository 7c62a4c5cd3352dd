"""All engine state behind one interface. This release keeps it in memory.

Evaluators get plain dict/set tables from the store once, at load time, and work on
them directly; a durable store persists and restores the same tables.
"""
from __future__ import annotations

from collections import deque

from policyengine.events.clock import NO_TIMER, Clock
from policyengine.runtime.aggregates import evict_all
from policyengine.runtime.helpers import drop_ended

try:
    from policyengine.runtime._columns import Column, MemberIndex
except ImportError:                                  # pragma: no cover - no C compiler at install
    Column = MemberIndex = None

# Events between sweeps of expired state: about as many as the state's entries, so a sweep costs
# O(1) an event however large the state, within bounds. Short-lived keys (a window by text, say)
# then leave the tables soon after they expire: on the community pack, sweeping every 65 536
# events let the copypasta table hold three days of texts for a ten-minute window, and its lookups
# missed the cache (docs/performance-history.md). The upper bound keeps what a large state leaves behind
# between sweeps to 65 536 events' worth.
SWEEP_MIN = 1 << 12
SWEEP_MAX = 1 << 16

# From this many members in the index, the lines of a chunk are worth looking at ahead of the
# rules: their members' rows asked of memory (runtime/_columns.c: ahead, events/_route.c:
# routed_warm). The reference policies over 1M events, one worker: 2 000 members +10 % (nothing to
# gain, the look paid), 20 000 +3 %, 60 000 -8 %, 200 000 -12 %; 1M members over 3M events -17 %.
AHEAD_MEMBERS = 1 << 15


class MemoryStore:
    def __init__(self, columns: bool = True) -> None:
        """`columns`: member-keyed tables as columns of one member index where the C module was
        built (runtime/_columns.c); False keeps every table a dict."""
        self.windows: dict[str, dict[object, deque]] = {}     # aggregate fingerprint → key → event times (µs)
        self.counts: dict[str, dict[object, int]] = {}       # aggregate fingerprint → key → all-time count
        self.once: dict[str, set] = {}                        # rule id → keys that already fired
        self.cooldowns: dict[str, dict[object, int]] = {}    # rule id → key → time (µs) the cooldown ends
        self.labels: dict[str, dict[str, int | None]] = {}   # member → label → expiry (µs) or None
        self.member_index = MemberIndex() if MemberIndex is not None and columns else None
        # member → [first_seen, joined_at, messages since join]: looked up on every event, so the
        # lookup that finds the event's row in the member index for its other tables.
        self.members: dict[str, list] = self.as_member_table({})
        self.mutes: dict[str, tuple] = {}                     # member → (until µs, rule index)
        self.bans: dict[str, tuple] = {}                      # member → (until µs or None, rule index)
        self.timers: list[tuple] = []                         # heap of (due µs, setting event, sequence, kind, payload)
        # The record loop's clock (events/clock.py): its `due` is at or before the earliest timer's
        # due time (NO_TIMER when there is none), kept by Timeline and state restores; the loop
        # compares each event's time with it in C instead of testing the heap. Too early only
        # costs a call of fire_until.
        self.clock = Clock()
        self.timer_seq = 0
        self.absence: dict[int, dict] = {}                    # rule index → key → (due µs, setting event)
        self.offenses: dict[int, dict] = {}                   # ladder index → member → offense times
        self.scores: dict[int, dict] = {}                     # score index → member → (value, as of µs)
        self.ledgers: dict[str, dict] = {}                    # currency → member → (balance, as of µs)
        self.earned: dict[str, dict] = {}                     # currency → member → (cap period, earned in it)
        self.levels: dict[int, dict] = {}                     # levels index → member → level index
        self.badges: dict[str, set] = {}                      # member → badges awarded
        self.titles: dict[str, str] = {}                      # member → title
        self.boards: dict[tuple, dict] = {}                   # (every, award) → member → (value, reached at)
        self.period_open: dict[int, int] = {}                 # every index → when its current period began
        self.roles: dict[int, dict] = {}                      # role index → member → promoted at µs
        self.joined: dict[str, int] = {}                      # member → time of their last `join`
        self.inviters: dict[str, str] = self.as_member_table({})   # invited member → who invited them (read on every message by referral rules)
        self.watermark: int | None = None                     # the latest event time seen
        self.events_seen = 0
        self.next_sweep = SWEEP_MIN                           # events_seen at which a sweep is due

    def settle_due(self) -> None:
        """The clock's due time, from the timers' heap as it is now (after timers fired, or a state
        file restored them)."""
        self.clock.due = self.timers[0][0] if self.timers else NO_TIMER

    def window_table(self, fingerprint: str, by_member: bool = False):
        return self._table(self.windows, fingerprint, by_member)

    def count_table(self, fingerprint: str, by_member: bool = False):
        return self._table(self.counts, fingerprint, by_member)

    def once_table(self, rule_id: str, by_member: bool = False):
        """The keys a rule fired for; `once per user` a column used as a set (`in`, `add`)."""
        return self._table(self.once, rule_id, by_member, set)

    def cooldown_table(self, rule_id: str, by_member: bool = False):
        return self._table(self.cooldowns, rule_id, by_member)

    def absence_table(self, rule_index: int, by_member: bool):
        """The running silences of an absence rule: key → (due, setting event). Keyed by `(member,)`
        for a rule `by user`: a column of the member index holding 1-tuples."""
        return self._table(self.absence, rule_index, by_member, unwrap=True)

    def member_table(self, tables: dict, name):
        """`tables[name]`, a table keyed by members (a ledger, a level table), made if missing."""
        return self._table(tables, name, True)

    def _table(self, tables: dict, name, by_member: bool, empty=dict, unwrap: bool = False):
        """`tables[name]`, made if missing. A table keyed by the event's member is a column of the
        member index (a dict, or a set, to everything that reads it; docs/performance-history.md, tenth
        session); one restored from a state file as a dict or a set becomes one here."""
        table = tables.get(name)
        if table is None:
            table = tables[name] = empty()
        if by_member and self.member_index is not None and table.__class__ is not Column:
            table = tables[name] = self.as_member_table(table, unwrap)
        return table

    def crowded_index(self):
        """The member index when it holds AHEAD_MEMBERS members or more, else None: whether the
        lines' rows are worth asking for ahead (replay, parallel)."""
        index = self.member_index
        return index if index is not None and len(index) >= AHEAD_MEMBERS else None

    def as_member_table(self, held, unwrap: bool = False):
        """A member-keyed table holding `held` (a dict, or a set of members): a column of the member
        index (`unwrap`: keyed by `(member,)`), or `held` itself where the C module was not built."""
        if self.member_index is None:
            return held
        column = Column(self.member_index, unwrap)
        if held.__class__ is set:
            for key in held:
                column.add(key)
        else:
            column.update(held)
        return column

    def label_table(self) -> dict:
        return self.labels

    def sweep(self, now: int, widths: dict[str, int]) -> None:
        """Drop state that can no longer matter at `now`: expired window entries, ended cooldowns,
        expired labels. Keeps memory proportional to what is live, not to events seen."""
        for fingerprint, table in list(self.windows.items()):
            width = widths.get(fingerprint)
            if width is None:
                continue
            evict_all(table, now - width)
        for table in self.cooldowns.values():
            drop_ended(table, now)
        # Sweeps run after the event, when every timer due by `now` has fired already.
        for table in (self.mutes, self.bans):
            for member in [m for m, state in table.items() if state[0] is not None and state[0] <= now]:
                del table[member]
        for member in list(self.labels):
            held = self.labels[member]
            for name in [n for n, exp in held.items() if exp is not None and exp <= now]:
                del held[name]
            if not held:
                del self.labels[member]
        live = (sum(map(len, self.windows.values())) + sum(map(len, self.cooldowns.values()))
                + len(self.labels) + len(self.mutes) + len(self.bans))
        self.next_sweep = self.events_seen + min(SWEEP_MAX, max(SWEEP_MIN, live))

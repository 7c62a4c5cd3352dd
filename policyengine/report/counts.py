"""What the report counts of the events a replay evaluates: events, messages and joins by hour,
the members who posted in each hour, and which channel each recent event came from (for the
decisions about it).

Two forms with one meaning: `PythonEventCounts` here is the definition, and `EventCounts` in C
(report/_observe.c, where it was built) reads the four fields it needs straight from the line's
bytes instead of decoding the whole line into a dict, and keeps an hour's members as bits of
member numbers instead of a set of names (its `active` makes the sets when asked). Observing a
line was ~1.8 µs an event, most of `eval --report`'s cost over `eval` (the reference policies
over 1M events: 2.42 s against 0.66 s); tests/test_report_counts.py holds the C form to this
one."""
from __future__ import annotations

from collections import Counter, defaultdict

import orjson

HOUR_US = 3_600_000_000
# Which channel each recent event came from, for the decisions about it: the last
# CHANNELS_KEPT-2×CHANNELS_KEPT ids' (two generations, the older dropped whole), so memory stays
# bounded and a decision handed on a stretch of lines after its event (eval's record loop hands
# on a stretch's decisions together) still finds its event. One id may name events of several
# members (Telegram's message ids count per chat, so a log of several chats repeats them): a
# decision is counted in the channel of its member's last event with the id, which does not move
# with where stretches end (on two workers, over a split log) as "the last event with the id"
# did. So each id keeps its last event's member and channel, and where another member's event
# takes the id over within a generation, the member it had keeps their channel in a memo by member
# and id, of two generations too; a decision about a member with no event of that id kept (a
# referral's inviter) gets the id's last event's channel. (A memo of every member and id cost the
# reference policies' report 1.16× its time over 1M events, and looking for a taken-over id in the
# older generation too 1.11×: a cache miss an event; ids repeat seldom.)
CHANNELS_KEPT = 100_000


class PythonEventCounts:
    def __init__(self) -> None:
        self.events = 0
        self.messages: Counter = Counter()                       # hour → messages
        self.joins: Counter = Counter()                          # hour → joins
        self.active: defaultdict = defaultdict(set)              # hour → members who posted
        self._by_id: list[dict] = [{}, {}]            # id → (member, channel): this generation, the one before
        self._by_member: list[dict] = [{}, {}]        # (member, id) → channel, of ids another member took over

    def observe(self, event: dict, ts: int) -> None:
        """One event, as the general decoder made it, at its time in µs."""
        self.events += 1
        hour = ts // HOUR_US
        kind = event.get("type")
        if kind == "message":
            self.messages[hour] += 1
            self.active[hour].add(event.get("user"))
        elif kind == "join":
            self.joins[hour] += 1
        channel, event_id, user = event.get("channel"), event.get("id"), event.get("user")
        if isinstance(channel, str) and isinstance(event_id, str):
            self._remember(user if isinstance(user, str) else None, event_id, channel)

    def _remember(self, user, event_id: str, channel: str) -> None:
        by_id = self._by_id
        if len(by_id[0]) >= CHANNELS_KEPT:                # a new generation before the id is looked for
            by_id[1], by_id[0] = by_id[0], {}
        last = by_id[0].get(event_id)                     # in this generation (one probe in C)
        if last is not None and last[0] is not None and last[0] != user:   # another member's: theirs kept
            by_member = self._by_member
            if len(by_member[0]) >= CHANNELS_KEPT:
                by_member[1], by_member[0] = by_member[0], {}
            by_member[0][(last[0], event_id)] = last[1]
        by_id[0][event_id] = (user, channel)

    def observe_line(self, line: bytes, ts: int) -> None:
        """One event by its line, which a decoder has taken: what `observe` makes of orjson's dict."""
        self.observe(orjson.loads(line), ts)

    def active_count(self, hours=None) -> int:
        """How many members posted in any of `hours` (every hour: None)."""
        return len(self._union(self.active if hours is None else hours))

    def active_shared(self, hours, other_hours) -> int:
        """How many members posted both in one of `hours` and in one of `other_hours`."""
        return len(self._union(hours) & self._union(other_hours))

    def _union(self, hours) -> set:
        return set().union(*(self.active.get(hour, ()) for hour in hours))

    def channel(self, user, event_id):
        """The channel of `user`'s last event `event_id`, or where they had none kept, of the last
        event with that id, if it is still kept (None otherwise)."""
        last = _recalled(self._by_id, event_id)
        if last is None or last[0] == user or not isinstance(user, str):
            return last[1] if last is not None else None
        theirs = _recalled(self._by_member, (user, event_id))
        return theirs if theirs is not None else last[1]


def _recalled(memo: list[dict], key):
    """memo's value for key: in this generation, else in the one before; None if in neither."""
    value = memo[0].get(key)
    return value if value is not None else memo[1].get(key)


try:
    from policyengine.report._observe import DecisionCounts, EventCounts
except ImportError:        # the C module is optional (setup.py): the same counts, more slowly
    EventCounts, DecisionCounts = PythonEventCounts, None

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
# The event id → channel memo keeps the last CHANNELS_KEPT-2×CHANNELS_KEPT events' (two
# generations, the older dropped whole): memory stays bounded, and a decision handed on a
# stretch of lines after its event (eval's record loop hands on a stretch's decisions together)
# still finds its event's channel.
CHANNELS_KEPT = 100_000


class PythonEventCounts:
    def __init__(self) -> None:
        self.events = 0
        self.messages: Counter = Counter()                       # hour → messages
        self.joins: Counter = Counter()                          # hour → joins
        self.active: defaultdict = defaultdict(set)              # hour → members who posted
        self._channel_of: dict = {}
        self._channel_before: dict = {}

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
        channel, event_id = event.get("channel"), event.get("id")
        if isinstance(channel, str) and isinstance(event_id, str):
            if len(self._channel_of) >= CHANNELS_KEPT:
                self._channel_before, self._channel_of = self._channel_of, {}
            self._channel_of[event_id] = channel

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

    def channel(self, event_id):
        """The channel the event `event_id` came from, if it is still kept (falsy otherwise)."""
        return self._channel_of.get(event_id) or self._channel_before.get(event_id)


try:
    from policyengine.report._observe import DecisionCounts, EventCounts
except ImportError:        # the C module is optional (setup.py): the same counts, more slowly
    EventCounts, DecisionCounts = PythonEventCounts, None

"""Gather what the report shows while a log is replayed: per-day activity and decisions."""
from __future__ import annotations

from collections import Counter, defaultdict

from policyengine.events.timestamps import format_ts, parse_ts
from policyengine.report.counts import HOUR_US, DecisionCounts, EventCounts


class ReportData:
    def __init__(self) -> None:
        # The events' counts (report/counts.py: read from each line in C where it was built).
        self.seen = EventCounts()
        self.observe_event = self.seen.observe            # (event dict, ts): the general decoder's events
        self.observe_line = self.seen.observe_line        # (line, ts): an event a record decoder took
        self.observing = getattr(self.seen, "observing", None)    # replay.observed_timed in C, where built
        self.decisions = defaultdict(Counter)      # hour → (rule, action) → n
        self.by_member = Counter()                 # member → moderation decisions about them
        self.by_channel = Counter()                # channel → decisions (from the triggering event)
        self.totals = Counter()                    # (policy/rule, action) → n
        self.observe_decisions = self.python_observe_decisions
        if DecisionCounts is not None:                  # in C where built (report/_observe.c)
            self.observe_decisions = DecisionCounts(self.decisions, self.totals, self.by_member, self.by_channel,
                                                    self.MODERATION, Counter, _hour_of, self.seen).observe

    MODERATION = {"delete", "warn", "mute", "kick", "ban", "flag", "purge", "lock", "slowmode", "label"}

    @property
    def events(self) -> int:
        return self.seen.events

    @property
    def messages(self) -> dict:
        """hour → messages"""
        return self.seen.messages

    @property
    def joins(self) -> dict:
        """hour → joins"""
        return self.seen.joins

    @property
    def active(self) -> dict:
        """hour → the set of members who posted (made anew each time in C: counts ask
        `seen.active_count` and `seen.active_shared`)"""
        return self.seen.active

    def observe_decision(self, d: dict) -> None:
        self.observe_decisions((d,))

    def python_observe_decisions(self, decisions) -> None:
        """Decisions in the order made: dicts, or the records eval's writer takes (they read as
        the dicts they stand for). The definition of `observe_decisions`, which is this in C
        where report/_observe.c was built."""
        for d in decisions:
            key = (f"{d['policy']}/{d['rule']}", d["action"])
            self.decisions[_hour_of(d["ts"])][key] += 1
            self.totals[key] += 1
            if d["action"] in self.MODERATION and d.get("user"):
                self.by_member[d["user"]] += 1
            channel = d.get("channel") or self.seen.channel(d.get("event_id") or "")
            if channel:
                self.by_channel[channel] += 1

    def buckets(self) -> "Buckets":
        """Hours when the log spans three days or less, else days."""
        hours = set(self.messages) | set(self.joins) | set(self.decisions)
        if not hours:
            return Buckets(self, 1, [])
        size = 1 if max(hours) - min(hours) < 72 else 24
        first, last = min(hours) // size, max(hours) // size
        return Buckets(self, size, list(range(first, last + 1)))


class Buckets:
    """Hourly or daily views of the hourly counts."""

    def __init__(self, data: ReportData, size: int, keys: list[int]):
        self.data, self.size, self.keys = data, size, keys
        self.unit = "hour" if size == 1 else "day"

    def _hours(self, key: int):
        return range(key * self.size, (key + 1) * self.size)

    def messages(self, key: int) -> int:
        return sum(self.data.messages.get(h, 0) for h in self._hours(key))

    def joins(self, key: int) -> int:
        return sum(self.data.joins.get(h, 0) for h in self._hours(key))

    def active(self, key: int) -> int:
        """How many members posted in the bucket."""
        return self.data.seen.active_count(self._hours(key))

    def decisions(self, key: int) -> Counter:
        total = Counter()
        for h in self._hours(key):
            total.update(self.data.decisions.get(h, {}))
        return total

    def retention(self, key: int) -> float | None:
        """Share of the previous bucket's posters who posted again in this one."""
        before = self.active(key - 1)
        if not before:
            return None
        return self.data.seen.active_shared(self._hours(key - 1), self._hours(key)) / before

    def label(self, key: int) -> str:
        text = format_ts(key * self.size * HOUR_US)
        return text[:10] if self.size == 24 else f"{text[:10]} {text[11:13]}:00"


def _hour_of(ts_text: str) -> int:
    return parse_ts(ts_text) // HOUR_US

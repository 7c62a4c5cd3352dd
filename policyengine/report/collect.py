"""Gather what the report shows while a log is replayed: per-day activity and decisions."""
from __future__ import annotations

from collections import Counter, defaultdict

import msgspec

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
            channel = d.get("channel") or self.seen.channel(d.get("user"), d.get("event_id") or "")
            if channel:
                self.by_channel[channel] += 1

    def summary(self) -> "ReportSummary":
        """What the page shows, as plain counts (`ReportSummary.merged` adds up workers')."""
        activity: dict[tuple[int, int], tuple[int, int]] = {}
        for size in BUCKET_HOURS:
            keys = {hour // size for hour in self.messages}          # the hours anyone posted in
            for key in keys:
                again = self.seen.active_shared(_hours(size, key - 1), _hours(size, key)) if key - 1 in keys else 0
                activity[(size, key)] = (self.seen.active_count(_hours(size, key)), again)
        return ReportSummary(self.events, dict(self.messages), dict(self.joins),
                             {hour: dict(counts) for hour, counts in self.decisions.items()}, dict(self.totals),
                             dict(self.by_member), dict(self.by_channel), self.seen.active_count(), activity)


# The report's buckets: hours when the log spans three days or less, else days (ReportSummary.buckets).
BUCKET_HOURS = (1, 24)
GAP_SHOWN = 62              # the most empty buckets in a row the page shows: two months of days


class ReportSummary(msgspec.Struct):
    """What the HTML report shows. A worker of `eval --workers` sends its own; those of workers
    whose members are apart add up to one worker's (`merged`): each member's events are counted by
    the worker that runs their rules, and each decision by the worker that made it."""
    events: int
    messages: dict[int, int]                            # hour → messages
    joins: dict[int, int]                               # hour → joins
    decisions: dict[int, dict[tuple[str, str], int]]    # hour → (policy/rule, action) → n
    totals: dict[tuple[str, str], int]                  # (policy/rule, action) → n
    by_member: dict                                     # member → moderation decisions about them
    by_channel: dict                                    # channel → decisions
    posters: int                                        # members who posted
    # (bucket hours, bucket) → (members who posted in it, of them those who posted in the one before)
    activity: dict[tuple[int, int], tuple[int, int]]

    @classmethod
    def merged(cls, parts: list["ReportSummary"]) -> "ReportSummary":
        """The parts of workers whose members are apart, as one: every count a sum."""
        total = cls(0, {}, {}, {}, {}, {}, {}, 0, {})
        for part in parts:
            total.events += part.events
            total.posters += part.posters
            for mine, theirs in ((total.messages, part.messages), (total.joins, part.joins),
                                 (total.totals, part.totals), (total.by_member, part.by_member),
                                 (total.by_channel, part.by_channel)):
                _add(mine, theirs)
            for hour, counts in part.decisions.items():
                _add(total.decisions.setdefault(hour, {}), counts)
            for key, (active, again) in part.activity.items():
                before = total.activity.get(key, (0, 0))
                total.activity[key] = (before[0] + active, before[1] + again)
        return total

    def buckets(self) -> "Buckets":
        """Hours when the log spans three days or less, else days: those that hold anything, and
        the empty ones between two within GAP_SHOWN of each other (a quiet night or week shows;
        one event dated in the year 9999 does not add three million empty days to the page)."""
        hours = set(self.messages) | set(self.joins) | set(self.decisions)
        if not hours:
            return Buckets(self, 1, [])
        size = 1 if max(hours) - min(hours) < 72 else 24
        keys: list[int] = []
        for key in sorted({hour // size for hour in hours}):
            if keys and key - keys[-1] <= GAP_SHOWN:
                keys += range(keys[-1] + 1, key)
            keys.append(key)
        return Buckets(self, size, keys)


def _add(total: dict, part: dict) -> None:
    for key, n in part.items():
        total[key] = total.get(key, 0) + n


def _hours(size: int, key: int) -> range:
    return range(key * size, (key + 1) * size)


class Buckets:
    """Hourly or daily views of the hourly counts."""

    def __init__(self, data: ReportSummary, size: int, keys: list[int]):
        self.data, self.size, self.keys = data, size, keys
        self.unit = "hour" if size == 1 else "day"
        self.left_out = keys[-1] - keys[0] + 1 - len(keys) if keys else 0     # empty buckets in longer gaps

    def messages(self, key: int) -> int:
        return sum(self.data.messages.get(h, 0) for h in _hours(self.size, key))

    def joins(self, key: int) -> int:
        return sum(self.data.joins.get(h, 0) for h in _hours(self.size, key))

    def active(self, key: int) -> int:
        """How many members posted in the bucket."""
        return self.data.activity.get((self.size, key), (0, 0))[0]

    def decisions(self, key: int) -> Counter:
        total = Counter()
        for h in _hours(self.size, key):
            total.update(self.data.decisions.get(h, {}))
        return total

    def retention(self, key: int) -> float | None:
        """Share of the previous bucket's posters who posted again in this one."""
        before = self.active(key - 1)
        if not before:
            return None
        return self.data.activity.get((self.size, key), (0, 0))[1] / before

    def label(self, key: int) -> str:
        text = format_ts(key * self.size * HOUR_US)
        return text[:10] if self.size == 24 else f"{text[:10]} {text[11:13]}:00"


def _hour_of(ts_text: str) -> int:
    return parse_ts(ts_text) // HOUR_US

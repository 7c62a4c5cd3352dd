"""Gather what the report shows while a log is replayed: per-day activity and decisions."""
from __future__ import annotations

from collections import Counter, defaultdict

from policyengine.events.timestamps import format_ts

_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000


class ReportData:
    def __init__(self) -> None:
        self.messages = Counter()                  # hour → messages
        self.active = defaultdict(set)             # hour → members who posted
        self.joins = Counter()                     # hour → joins
        self.decisions = defaultdict(Counter)      # hour → (rule, action) → n
        self.by_member = Counter()                 # member → moderation decisions about them
        self.by_channel = Counter()                # channel → decisions (from the triggering event)
        self.totals = Counter()                    # (policy/rule, action) → n
        self.events = 0
        # event id → channel, for decisions: the last 100 000-200 000 events' (two generations,
        # the older dropped whole), so memory stays bounded and a decision made a stretch of
        # lines after its event (eval's record loop hands on a stretch's decisions together)
        # still finds its event's channel
        self._channel_of: dict[str, str] = {}
        self._channel_before: dict[str, str] = {}

    MODERATION = {"delete", "warn", "mute", "kick", "ban", "flag", "purge", "lock", "slowmode", "label"}

    def observe_event(self, event: dict, ts: int) -> None:
        self.events += 1
        day = ts // _HOUR_US
        kind = event.get("type")
        if kind == "message":
            self.messages[day] += 1
            self.active[day].add(event.get("user"))
        elif kind == "join":
            self.joins[day] += 1
        channel = event.get("channel")
        if isinstance(channel, str) and isinstance(event.get("id"), str):
            if len(self._channel_of) >= 100_000:
                self._channel_before, self._channel_of = self._channel_of, {}
            self._channel_of[event["id"]] = channel

    def observe_decision(self, d: dict) -> None:
        day = _day_of(d["ts"])
        key = (f"{d['policy']}/{d['rule']}", d["action"])
        self.decisions[day][key] += 1
        self.totals[key] += 1
        if d["action"] in self.MODERATION and d.get("user"):
            self.by_member[d["user"]] += 1
        event_id = d.get("event_id") or ""
        channel = d.get("channel") or self._channel_of.get(event_id) or self._channel_before.get(event_id)
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

    def active(self, key: int) -> set:
        return set().union(*(self.data.active.get(h, set()) for h in self._hours(key)))

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
        return len(before & self.active(key)) / len(before)

    def label(self, key: int) -> str:
        text = format_ts(key * self.size * _HOUR_US)
        return text[:10] if self.size == 24 else f"{text[:10]} {text[11:13]}:00"


def _day_of(ts_text: str) -> int:
    from policyengine.events.timestamps import parse_ts
    return parse_ts(ts_text) // _HOUR_US

"""The record loop's clock (compiler/loop.py): the latest event time taken (the watermark) and a
bound at or before the earliest timer's due time, which `decode_timed` compares each event's time
with (events/_clock.h, in C where it was built). The loop compared them itself, two comparisons
of ints past 30 bits an event, which Python 3.11 does not specialise; now it looks only when
`decode_timed` gives no time, and the clock says why (`stop`, the event's time in `ts`).

The store keeps `due` (runtime/timeline.py schedules and fires timers, state files restore them);
the loop keeps `watermark`, set from the store when a stretch starts and written back when it
ends. The C clock holds both as 64-bit ints: a due time past them as the nearest that is not later
(too early only costs the loop a look at the timers)."""
from __future__ import annotations

TAKEN, ASK, LATE, DUE = 0, 1, 2, 3       # `stop`: taken, ask Python (no time), late, timers due first
ITEM = 4                                 # `stop`: not a line: a worker's routed item its loop handles itself
NO_TIMER = 1 << 63                       # `due` with no timer set


class PythonClock:
    """The definition, and the clock where the C module was not built."""
    __slots__ = ("watermark", "due", "ts", "stop")

    def __init__(self) -> None:
        self.watermark: int | None = None
        self.due = NO_TIMER
        self.ts = 0
        self.stop = TAKEN

    def take(self, us: int) -> int:
        """What the clock decides for an event at `us` (held in `ts`): late (before the
        watermark), or taken — the watermark moved up to it — with timers due at or before it
        first (DUE) or not (TAKEN)."""
        self.ts = us
        if self.watermark is not None and us < self.watermark:
            self.stop = LATE
        else:
            self.watermark = us
            self.stop = DUE if us >= self.due else TAKEN
        return self.stop


class taking:
    """taking(clock, items): an iterator over a worker's routed items (events/routing.py) that
    takes other shares' event times onto `clock` (this module's or the C one): an int the clock
    takes cleanly (not late, before `due`) moves the watermark and is counted in `taken`, not
    handed on; every other item is handed on. `taken`: the events the loop passes with the item
    handed on last — the times taken before it, and the item itself when it is a line of the
    share's own (bytes), which the loop then counts no more — or the times taken before the end.
    The record loop (compiler/loop.py) adds it to its event count at each item. The definition of
    events/_route.c's `routed`, which does the same in one pass over a chunk; a worker goes
    through this only where that was not built."""

    def __init__(self, clock, items: list) -> None:
        self._clock, self._items, self._next, self.taken = clock, items, 0, 0

    def __iter__(self) -> "taking":
        return self

    def __next__(self):
        clock, taken = self._clock, 0
        while self._next < len(self._items):
            item = self._items[self._next]
            self._next += 1
            if type(item) is int and -(1 << 63) <= item < (1 << 63) \
                    and (clock.watermark is None or item >= clock.watermark) and item < clock.due:
                clock.watermark = item
                taken += 1
                continue
            self.taken = taken + (type(item) is bytes)
            return item
        self.taken = taken
        raise StopIteration


Clock = PythonClock
try:                                                      # in C where it was built (events/_records.c)
    from policyengine.events._records import Clock  # noqa: F811
except ImportError:                                       # pragma: no cover - no C compiler at install
    pass

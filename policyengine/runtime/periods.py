"""Calendar periods in a time zone: which day, week or month an instant falls in, and when the next begins."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

try:                                            # day() in C where it was built (runtime/_periods.c)
    from policyengine.runtime import _periods
except ImportError:                             # pragma: no cover - no C compiler at install
    _periods = None

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HOUR_US = 3_600_000_000
_DAY_US = 86_400_000_000


class Calendar:
    """Period numbers for one zone. Offsets are cached per hour, so a period costs a dict lookup."""

    def __init__(self, tz: str = "UTC"):
        self.name = tz
        self.zone = timezone.utc if tz in ("UTC", "Z") else ZoneInfo(tz)
        self._offsets: dict[int, int] = {}
        # The stretch [from, to) of UTC µs the last day() fell in, and its day: events come in
        # time order, so most calls land in the stretch of the call before.
        self._day_span = (0, 0, 0)
        # Day → its `YYYY-MM-DD`: `once per user, date(ts, …)` asks on every check-in, and strftime
        # was 2 % of the community pack's run.
        self._date_texts: dict[int, str] = {}
        if _periods is not None:
            # The same in C (runtime/_periods.c): the stretch kept as two C integers, no frame when
            # the answer is in it. An attribute of the instance, so it stands in for the method.
            self.day = _periods.Day(self.day_and_stretch)

    def __reduce__(self):
        """Pickled as its zone: the compiled-program cache keeps pool values, and an unpickled
        calendar is the one calendar() keeps for the zone, with its caches and its C day()."""
        return calendar, (self.name,)

    def offset_us(self, us: int) -> int:
        hour = us // _HOUR_US
        off = self._offsets.get(hour)
        if off is None:
            moment = _EPOCH + timedelta(microseconds=hour * _HOUR_US)
            try:
                off = int(moment.astimezone(self.zone).utcoffset().total_seconds()) * 1_000_000
            except OverflowError:           # east of UTC on 9999-12-31 the local date is past the calendar
                return self.offset_us(us - _DAY_US)
            if len(self._offsets) < 200_000:
                self._offsets[hour] = off
        return off

    def day(self, us: int) -> int:
        """Days since 1970-01-01 in this zone's calendar."""
        low, high, day = self._day_span
        if low <= us < high:
            return day
        day, low, high = self.day_and_stretch(us)
        if low is not None:
            self._day_span = (low, high, day)
        return day

    def day_and_stretch(self, us: int) -> tuple:
        """The day of `us` and the stretch [low, high) of UTC µs around it with the same day and the
        same offset (within its UTC hour); (day, None, None) when the offset changes in that hour."""
        off = self.offset_us(us)
        day = (us + off) // _DAY_US
        hour = us // _HOUR_US
        if self._offsets.get(hour) != off:      # the offset does not hold for this whole UTC hour
            return day, None, None
        start = hour * _HOUR_US
        return day, max(start, day * _DAY_US - off), min(start + _HOUR_US, (day + 1) * _DAY_US - off)

    def date_text(self, us: int | None) -> str | None:
        """`YYYY-MM-DD` of the local calendar day."""
        if us is None:
            return None
        day = self.day(us)
        text = self._date_texts.get(day)
        if text is None:
            try:
                text = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
            except OverflowError:
                text = "10000-01-01"
            if len(self._date_texts) < 100_000:
                self._date_texts[day] = text
        return text

    def week(self, us: int) -> int:
        """Weeks (Monday to Sunday) since the week of 1969-12-29."""
        return (self.day(us) + 3) // 7

    def month(self, us: int) -> int:
        try:
            local = _EPOCH + timedelta(microseconds=us + self.offset_us(us))
        except OverflowError:
            return 10_000 * 12              # January of the year 10000, the local month after 9999-12-31
        return local.year * 12 + local.month - 1

    def period_function(self, kind: str):
        """The function giving the number of the `kind` ("day", "week", "month") an instant falls in."""
        return self.day if kind == "day" else self.week if kind == "week" else self.month

    def start_of_next(self, kind: str, us: int) -> int | None:
        """The first instant (µs, UTC) of the period after the one holding `us`; None when that
        period would begin after the year 9999, where the calendar ends (event times stop there too)."""
        try:
            local = (_EPOCH + timedelta(microseconds=us)).astimezone(self.zone)
            if kind == "day":
                start = datetime(local.year, local.month, local.day) + timedelta(days=1)
            elif kind == "week":
                start = datetime(local.year, local.month, local.day) + timedelta(days=7 - local.weekday())
            else:
                start = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1)
            aware = start.replace(tzinfo=self.zone)
            return (aware.astimezone(timezone.utc) - _EPOCH) // timedelta(microseconds=1)
        except (OverflowError, ValueError):
            return None


@lru_cache(maxsize=64)
def calendar(tz: str) -> Calendar:
    return Calendar(tz)


def valid_time_zone(tz: str) -> bool:
    if tz in ("UTC", "Z"):
        return True
    try:
        ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        return False
    return True

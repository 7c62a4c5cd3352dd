"""Event time: RFC 3339 strings or epoch seconds in, integer microseconds inside, RFC 3339 UTC out."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
# The common shape, e.g. 2026-11-01T08:00:00.250Z, is parsed without datetime per event.
_UTC_SHAPE = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?[Zz]\Z")
_day_cache: dict[str, int] = {}


class TimestampError(ValueError):
    pass


def parse_ts(value) -> int:
    if value.__class__ is str:
        return _parse_text(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TimestampError(f"`ts` must be an RFC 3339 string or epoch seconds, found {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TimestampError("`ts` must be a finite number")
    if not -62135596800 <= value <= 253402300799:
        raise TimestampError("`ts` is outside years 1–9999")
    return int(value) * 1_000_000 if isinstance(value, int) else int(round(value * 1_000_000))


def _parse_text(text: str) -> int:
    m = _UTC_SHAPE.match(text)
    if m:
        date, hh, mm, ss, frac = m.groups()
        day = _day_cache.get(date)
        if day is None:
            try:
                day = (datetime.fromisoformat(date).replace(tzinfo=timezone.utc) - _EPOCH) // _US
            except ValueError:
                raise TimestampError(f"`ts` has an invalid date: {text!r}") from None
            if len(_day_cache) < 100_000:
                _day_cache[date] = day
        h, mi, s = int(hh), int(mm), int(ss)
        if h > 23 or mi > 59 or s > 60:
            raise TimestampError(f"`ts` has an invalid time of day: {text!r}")
        us = int((frac + "00000")[:6]) if frac else 0
        return day + ((h * 60 + mi) * 60 + s) * 1_000_000 + us
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"`ts` is not an RFC 3339 time: {text!r}") from None
    if dt.tzinfo is None:
        raise TimestampError(f"`ts` has no time zone: {text!r} (add `Z` for UTC or an offset such as `+08:00`)")
    return (dt - _EPOCH) // _US


def format_ts(us: int) -> str:
    dt = _EPOCH + timedelta(microseconds=us)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = us % 1_000_000
    if not frac:
        return base + "Z"
    if frac % 1000 == 0:
        return f"{base}.{frac // 1000:03d}Z"
    return f"{base}.{frac:06d}Z"

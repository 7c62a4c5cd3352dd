"""The per-line functions of `eval` from the C module (events/_lines.c), or stand-ins that give
the same results where it could not be built: `None` ("ask Python") from those that answer only
common cases, and `bytes.split` and `str.casefold` for the others."""
from __future__ import annotations

try:
    from policyengine.events._lines import casefold, event_time, format_us, rfc3339_us, split_lines
except ImportError:                                  # pragma: no cover - no C compiler at install
    def event_time(ts, line):
        return None

    def rfc3339_us(text):
        return None

    def format_us(us):
        return None

    def split_lines(data: bytes) -> list[bytes]:
        return data.split(b"\n")

    def casefold(text: str | None) -> str | None:
        return None if text is None else text.casefold()

__all__ = ["casefold", "event_time", "format_us", "rfc3339_us", "split_lines"]

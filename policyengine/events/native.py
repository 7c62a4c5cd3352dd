"""The per-line functions of `eval` from the C module (events/_lines.c), or stand-ins that give
the same results where it could not be built: `None` ("ask Python") from those that answer only
common cases, and `bytes.split` and `str.casefold` for the others."""
from __future__ import annotations


def split_lines_py(data: bytes, limit: int | None = None, head: bytes = b"") -> list[bytes | None]:
    """The C module's split_lines in Python: the lines of `head + data` (`head`, the unfinished
    last line of the chunk before, holds no newline), over-long lines but the last None."""
    lines = (head + data).split(b"\n")
    if limit is not None:
        lines[:-1] = [line if len(line) <= limit else None for line in lines[:-1]]
    return lines


try:
    from policyengine.events._lines import NORMALIZE_UNICODE, casefold, event_time, format_us, rfc3339_us, split_lines
    from policyengine.events._lines import normalize as native_normalize
    from policyengine.events._lines import set_normalize_fallback
except ImportError:                                  # pragma: no cover - no C compiler at install
    def event_time(ts, line):
        return None

    def rfc3339_us(text):
        return None

    def format_us(us):
        return None

    split_lines = split_lines_py
    native_normalize = set_normalize_fallback = None   # runtime/text.py normalises in Python
    NORMALIZE_UNICODE = None

    def casefold(text: str | None) -> str | None:
        return None if text is None else text.casefold()

__all__ = ["NORMALIZE_UNICODE", "casefold", "event_time", "format_us", "native_normalize", "rfc3339_us",
           "set_normalize_fallback", "split_lines"]

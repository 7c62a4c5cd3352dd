"""Lines split among the workers of `eval --workers` before they are decoded (events/_route.c).

`route(lines, fields, shares, share)` gives, per line: the line itself for an event of one of
`share`'s members, that event's time (an int, microseconds) for another share's member, and a
1-tuple `(line,)` for a line the scan is unsure of, which every worker then decodes and judges
as one worker would. "Sure" is only ever said of a line the program's record decoder takes with
the same `user` and time (tests/test_route.py).

With an `Exchange` (shared memory the workers inherit), each line is scanned by one worker, in
blocks taken in turn, and the others read what it found (events/_route.c); `scan_ahead` makes a
worker's scans of the chunk after the one it routes next.

A worker's loop takes `routed(...)`: route's items as it asks for them, other shares' times its
clock takes cleanly taken in C (events/clock.py's `taking` is the definition), over chunks split
by `split_spans`, whose lines become bytes only when handed on. Where these were not built,
`routed` and `split_spans` are None.
"""
from __future__ import annotations

from policyengine.events.records import SCAN_KINDS, RecordField

USER_KIND = 1     # the scan's K_USER: the field it routes by (its other kinds: records.SCAN_KINDS)

try:
    from policyengine.events._route import EXCHANGE_WORKERS, Exchange, bucket_counts, crc32, route, scan_ahead
    from policyengine.events._route import SplitDamaged, parted, routed, split_spans
except ImportError:                                  # pragma: no cover - no C compiler at install
    import zlib

    crc32 = zlib.crc32
    Exchange = None                                  # each worker on its own
    EXCHANGE_WORKERS = 0
    routed = split_spans = None                      # parallel/share.py routes a list through clock.py's taking
    parted = None                                    # a split log is read by one worker (splitlog/)

    class SplitDamaged(ValueError):
        """A split log's clock and parts disagree (raised by parted, in C)."""
    scan_ahead = None                                # only with an Exchange, which is None here
    bucket_counts = None                             # parallel.balanced_partition reads its sample with orjson

    def route(lines, fields, shares, share, exchange=None):
        return [(line,) for line in lines]         # unsure of all: every worker decodes every line


def route_fields(record: tuple[RecordField, ...]) -> tuple[tuple[bytes, int], ...]:
    """The scan's view of a record layout: each field's JSON key and what its value must be."""
    return tuple((f.name.encode(), USER_KIND if f.attr == "user" else SCAN_KINDS[f.kind]) for f in record)


__all__ = ["EXCHANGE_WORKERS", "USER_KIND", "Exchange", "SplitDamaged", "bucket_counts", "crc32", "parted", "route", "route_fields", "routed",
           "scan_ahead", "split_spans"]

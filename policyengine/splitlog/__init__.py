"""A log split by member before `eval` reads it (`policyengine split LOG --parts N --out DIR`).

`eval --workers N` over a log read whole makes each worker scan a share of every line and read
the other shares' lines; on cheap rules that holds two workers near 1.5-1.6x one. A split log is
the log cut once, by the same member buckets the workers use: each part's lines in a file of its
own, the lines the scan was not sure of in another, and a clock of eight bytes a line of the log
(whose line, and its time). `eval --workers N` over it (N the parts) gives each worker its own
part and the clock: it never reads another part's line. One worker reads the parts back in the
log's order. Decisions are byte for byte the log's own, and bad lines keep their numbers in it.

The stages, a module each: layout.py is the folder (its manifest, its files, the fields "sure"
is judged by); write.py makes it; read.py reads it back, whole or a part at a time.
"""
from __future__ import annotations

from policyengine.logs import is_split
from policyengine.splitlog.layout import SPLIT_FIELDS, Manifest, SplitError, read_manifest
from policyengine.splitlog.read import SplitLog, open_split

# write.py (split_log) is imported by `policyengine split` alone: it needs the workers' partition,
# which reading a split log does not.
__all__ = ["SPLIT_FIELDS", "Manifest", "SplitError", "SplitLog", "is_split", "open_split", "read_manifest"]

"""The workers' spooled decisions merged back into the order one worker gives: each spool is sorted
by its lines' merge keys (output/decisions.py: merge_key), and equal keys keep the files' order."""
from __future__ import annotations

import bisect
import contextlib
import mmap
import operator
import os

from policyengine.output.decisions import MERGE_KEY_BYTES, merge_spooled

_KEY = operator.itemgetter(slice(MERGE_KEY_BYTES))           # a spooled line's merge key


def merged(files: list, block: int = 1 << 18):
    """Lists of the spooled lines of `files` (each sorted by its key), in the order heapq.merge
    gives them — by key, equal keys in the files' order — reading about `block` bytes at a time.
    Each list is put in order by one stable sort in C (sorted runs: a galloping merge): ~0.2 µs a
    decision where heapq.merge's loop in Python cost the parent 0.8. Memory stays within a few
    blocks a file, whatever the run decides."""
    pending: list[list[bytes]] = [[] for _ in files]
    live = list(range(len(files)))
    while live:
        # read on in each file whose lines read are all out, and in the one furthest behind
        behind = min(live, key=lambda i: _KEY(pending[i][-1]) if pending[i] else b"")
        for i in list(live):
            if i == behind or not pending[i]:
                got = files[i].readlines(block)
                if got:
                    pending[i] += got
                else:
                    live.remove(i)
        # A line unread in a live file has a key at least that file's last line read: lines with a
        # smaller key than every such last one are final; equal ones may have equals still to come.
        bound = min((_KEY(pending[i][-1]) for i in live), default=None)
        ready: list[bytes] = []
        for lines in pending:
            cut = len(lines) if bound is None else bisect.bisect_left(lines, bound, key=_KEY)
            ready += lines[:cut]
            del lines[:cut]
        if ready:
            ready.sort(key=_KEY)
            yield ready


def _merged_json(files: list, spools: contextlib.ExitStack, block: int = 1 << 20):
    """The spools' decisions as JSON lines in merged's order, about `block` bytes at a time, their
    keys cut off: merged in C (output/_decisions.c: merge_spooled) from the files mapped into
    memory — merged's Python lines, keys and joins cost ~0.37 us a decision — or by merged."""
    if merge_spooled is None:
        for lines in merged(files):
            yield b"".join([line[MERGE_KEY_BYTES:] for line in lines])
        return
    views = [spools.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
             if os.fstat(f.fileno()).st_size else b"" for f in files]          # an empty file cannot be mapped
    at = [0] * len(views)
    while True:
        chunk, at = merge_spooled(views, at, block)
        if not chunk:
            return
        yield chunk

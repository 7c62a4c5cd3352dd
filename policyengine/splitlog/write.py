"""`policyengine split`: a log cut by member into the parts `eval --workers` reads (layout.py)."""
from __future__ import annotations

import gzip
import os
from array import array
import shutil
import tempfile
import zlib

import msgspec

from policyengine.events.native import split_lines
from policyengine.events.routing import split_spans
from policyengine.logs import line_batches, open_log
from policyengine.parallel.balance import BUCKETS, balanced_partition
from policyengine.splitlog.layout import (CHUNKS, CLOCK, FORMAT, MANIFEST, MAX_PARTS, SPLIT_FIELDS, UNSURE, VERSION,
                                          Manifest, SplitError, part_file)

try:
    from policyengine.events._route import split_chunk
except ImportError:                                  # pragma: no cover - no C compiler at install
    split_chunk = None


def split_log(name: str, parts: int, folder: str, max_line: int, partition: bytes | None = None,
              progress=None) -> Manifest:
    """Split the log `name` (a file, a .gz file, or - for standard input) into `parts` parts in
    `folder`, which must not exist or be empty; made in a folder beside it and renamed into place,
    so that a split cut short leaves nothing that reads as one. `partition`: another split's (its
    members in the same parts), or one made from a sample of this log. `progress(log, lines)`, if
    given, is told after each chunk. SplitError says why not."""
    if split_chunk is None:                          # pragma: no cover - no C compiler at install
        raise SplitError("splitting a log needs the C scan (events/_route.c), which was not built here")
    if not 1 <= parts <= MAX_PARTS:
        raise SplitError(f"--parts {parts}: give 1 to {MAX_PARTS}")
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise SplitError(f"{folder}: already exists and is not an empty folder; give another")
    # the members' buckets shared out as eval's workers share them: a sample of the log's events
    # spread evenly over the parts (standard input cannot be read twice: by CRC-32 alone)
    partition = partition or balanced_partition([name], parts, max_line, SPLIT_FIELDS) or \
        bytes(b % parts for b in range(BUCKETS))
    parent = os.path.dirname(os.path.abspath(folder))
    try:
        os.makedirs(parent, exist_ok=True)
        building = tempfile.mkdtemp(prefix=".split-", dir=parent)
    except OSError as err:
        raise SplitError(f"{folder}: cannot be written: {err.strerror or err}") from None
    try:
        manifest = _write(name, parts, partition, building, max_line, progress)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(building, 0o777 & ~mask)            # mkdtemp's folder is the owner's alone
        if os.path.isdir(folder):
            os.rmdir(folder)                         # empty, as checked
        os.rename(building, folder)
    except OSError as err:
        shutil.rmtree(building, ignore_errors=True)
        raise SplitError(f"{folder}: cannot be written: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest


def _write(name: str, parts: int, partition: bytes, folder: str, max_line: int, progress) -> Manifest:
    log = open_log(name, inflate_ahead=True)
    files = [open(os.path.join(folder, part_file(k)), "wb", buffering=1 << 20) for k in range(parts)]
    files.append(open(os.path.join(folder, UNSURE), "wb", buffering=1 << 20))
    clock = open(os.path.join(folder, CLOCK), "wb", buffering=1 << 20)
    counts = [0] * (parts + 1)
    sizes = [0] * (parts + 1)
    lines = overlong = 0
    chunks = array("I")                              # each chunk's lines
    try:
        for batch in line_batches(log.stream, max_line, split=split_spans or split_lines):
            entries, pieces, left_out = split_chunk(batch, SPLIT_FIELDS, partition, parts)
            clock.write(entries)
            for k, piece in enumerate(pieces):
                files[k].write(piece)
                counts[k] += piece.count(b"\n")
                sizes[k] += len(piece)
            lines += len(batch)
            chunks.append(len(batch))
            overlong += left_out
            if progress is not None:
                progress(log, lines)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise SplitError(f"{log.name}:{lines + 1}: the compressed log is damaged or cut short ({err}); "
                         "nothing was split (eval reads the lines before it)") from None
    finally:
        log.close()
        for f in (*files, clock):
            f.close()
    with open(os.path.join(folder, CHUNKS), "wb") as f:
        f.write(chunks.tobytes())
    manifest = Manifest(FORMAT, VERSION, log.name, parts, partition.hex(), lines, counts[:parts], counts[parts],
                        sizes[:parts], sizes[parts], max_line, overlong, len(chunks))
    with open(os.path.join(folder, MANIFEST), "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")
    return manifest

"""Which worker of `eval --workers` each member goes to: members' CRC-32 buckets shared out so that
a sample of the log's events falls evenly on the workers."""
from __future__ import annotations

import gzip
import os
import zlib

import orjson

from policyengine.events.native import split_lines
from policyengine.events.routing import bucket_counts
from policyengine.logs import LogOpenError, check_readable, line_batches, open_log
from policyengine.runtime.helpers import member_crc

# Members go to workers by bucket (CRC-32 of the name modulo BUCKETS), buckets to workers so that
# a sample of the log's events fall evenly: by CRC-32 alone the benchmark log's members split its
# events 53 % / 47 %, and the busier share set the wall clock. The sample is STRETCHES windows of
# WINDOW bytes spread over the first log (its head alone gave 51.8 % / 48.2 %: members' activity
# drifts; spread, 49.9 %), or, where the log cannot be read from the middle (compressed) or is
# small, its first SAMPLE_LINES lines. It only steers the balance: whatever it holds, every worker
# gets the same partition, so the decisions do not depend on it.
BUCKETS = 1024
SAMPLE_LINES = 16_000
STRETCHES = 16
WINDOW = 128 * 1024


def balanced_partition(logs: list[str], shares: int, max_line: int, fields: tuple = (),
                       sample: int = SAMPLE_LINES) -> bytes:
    """A partition of members' buckets among `shares` workers, the events of a sample of the first
    log spread evenly: the busiest bucket first, each to the least-loaded worker (the
    lowest-numbered of equals); buckets the sample did not meet by their number. `fields`: the
    program's record layout for the scan (events/routing.py), which counts the sample in C; without
    it, orjson reads it. Empty (members by CRC-32 alone) where the log cannot be read twice
    (standard input, a pipe by name), or for one worker, or more than a byte can name."""
    if shares < 2 or shares > 255 or not logs or logs[0] == "-":
        return b""
    try:
        check_readable(logs[:1])             # a regular file: a pipe by name read here would be lost to the workers
        log = open_log(logs[0])
    except LogOpenError:
        return b""                           # the workers meet it again and say so
    try:
        lines = _sample_lines(log, max_line, sample)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        lines = []                           # a damaged log: balance by CRC-32; replay reports it
    finally:
        log.close()
    counts = bucket_counts(lines, fields, BUCKETS) if fields and bucket_counts is not None else _counted(lines)
    loads = [0] * shares
    partition = bytearray(b % shares for b in range(BUCKETS))
    for bucket in sorted((b for b in range(BUCKETS) if counts[b]), key=lambda b: (-counts[b], b)):
        least = min(range(shares), key=lambda s: (loads[s], s))
        partition[bucket] = least
        loads[least] += counts[bucket]
    return bytes(partition)


def _sample_lines(log, max_line: int, sample: int) -> list:
    """Whole lines from STRETCHES windows spread evenly over a plain log larger than all of them
    (a line cut by a window's edge left out); of a compressed or smaller one, its first `sample`."""
    if log.raw is not None or log.size is None or log.size <= STRETCHES * WINDOW:
        lines = []
        for batch in line_batches(log.stream, max_line):
            lines += batch[:sample - len(lines)]
            if len(lines) >= sample:
                break
        return lines
    lines = []
    for k in range(STRETCHES):
        start = k * log.size // STRETCHES
        # pread: a seek and read through the log's 1 MiB buffer read 1 MiB a window
        data = os.pread(log.stream.fileno(), WINDOW + (start > 0), max(start - 1, 0))
        if start > 0:                        # from the first line that starts in the window
            data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
        cut = data.rfind(b"\n")             # to the last whole line
        lines += [line for line in split_lines(data[:cut], max_line, b"") if line is not None] if cut >= 0 else []
    return lines


def _counted(lines: list) -> list[int]:
    """bucket_counts where there is no scan: orjson reads each line's `user`."""
    counts = [0] * BUCKETS
    for line in lines:
        try:
            user = orjson.loads(line).get("user") if line is not None else None
        except (orjson.JSONDecodeError, AttributeError):
            continue                     # a bad line or not an object: counted by nobody
        if user.__class__ is str:
            counts[member_crc(user) % BUCKETS] += 1
    return counts

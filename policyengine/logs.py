"""Open event logs: plain or gzip-compressed JSON Lines files, or `-` for standard input."""
from __future__ import annotations

import os
import sys
from typing import BinaryIO

import msgspec

from policyengine.events.native import split_lines  # bytes.split(b"\n") with memchr: 3× faster a line
from policyengine.readahead import InflateAhead, Inflated


class LogOpenError(Exception):
    pass


class OpenLog(msgspec.Struct):
    name: str
    stream: BinaryIO
    size: int | None            # bytes on disk, for progress; None for stdin
    raw: BinaryIO | None        # the file under a gzip stream, whose position tracks progress

    def position(self) -> int | None:
        """Where in the file the reader is, for progress: an inflating stream knows (the file is
        read ahead of what it has handed on), a plain file is where it was read to."""
        try:
            knows = getattr(self.stream, "position", None)
            return knows() if knows is not None else self.stream.tell()
        except (OSError, ValueError):
            return None

    def batches(self, limit: int):
        """The log's lines in chunks (line_batches); a split log's SplitLog has its own."""
        return line_batches(self.stream, limit)

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()
            if self.raw is not None:
                self.raw.close()


def check_readable(names: list[str]) -> None:
    for name in names:
        if name == "-":
            continue
        if is_split(name):
            from policyengine.splitlog import read_manifest
            read_manifest(name)                      # SplitError (a LogOpenError) if it is not whole
            continue
        if not os.path.exists(name):
            raise LogOpenError(f"{name}: no such log file")
        if not os.path.isfile(name):
            # a directory, or a pipe by name (`<(zcat log.gz)`): a log named by path may be opened
            # more than once (each worker of `--workers`; `--state` reads its head to know it again)
            raise LogOpenError(f"{name}: not a regular file (give a pipe's lines on standard input: `-`)")
        if not os.access(name, os.R_OK):
            raise LogOpenError(f"{name}: cannot be read (permission denied)")


def open_log(name: str, inflate_ahead: bool = False) -> OpenLog:
    """`inflate_ahead`: a gzip log inflated on a thread of its own (readahead.py), for a process
    that has a core to spare; `eval --workers` and `diff` keep both cores busy with processes of
    their own, where the thread only got in the way (0.71-0.79 s -> 0.85 s over 1M events)."""
    if name == "-":
        return OpenLog("<stdin>", sys.stdin.buffer, None, None)
    if is_split(name):                              # `policyengine split`'s folder: read back in the log's order
        from policyengine.splitlog import open_split
        return open_split(name)
    try:
        raw = open(name, "rb", buffering=1 << 20)
        size = os.fstat(raw.fileno()).st_size
        if name.endswith(".gz"):
            stream = InflateAhead(raw) if inflate_ahead else Inflated(raw)
            return OpenLog(name, stream, size, raw)
        return OpenLog(name, raw, size, None)
    except OSError as err:
        raise LogOpenError(f"{name}: {err.strerror or err}") from None


SPLIT_MANIFEST = "split.json"    # what makes a folder a split log (splitlog/layout.py)
SPLIT_PARTS = 64                 # the parts a split log may have (events/_route_split.h: SPLIT_PARTS)


def is_split(name: str) -> bool:
    """A folder `policyengine split` wrote: its manifest in it."""
    return name != "-" and os.path.isdir(name) and os.path.isfile(os.path.join(name, SPLIT_MANIFEST))


CHUNK = 1 << 18


def line_batches(stream, limit: int, chunk: int = CHUNK, split=split_lines):
    """Lists of the stream's lines, without their newlines, each of at most `limit` bytes; a longer
    line is None in its place, read through in chunks and never held whole. Reading a chunk and
    splitting it costs 0.05 µs a line where `readline` cost 0.35 µs (docs/performance.md).
    `split`: split_lines, or events/_route.c's split_spans for a worker, whose chunks' lines become
    bytes only when asked for (the last, an unfinished line, is a list of one)."""
    read = getattr(stream, "read1", None) or stream.read    # read1: a pipe gives what it has, no waiting for a full chunk
    rest = b""
    dropping = False                                        # inside an over-long line, up to its newline
    while True:
        data = read(chunk)
        if not data:
            break
        if dropping:
            cut = data.find(b"\n")
            if cut < 0:
                continue
            data, dropping = data[cut + 1:], False
        # over-long lines None, the unfinished last one kept (and joined to the next chunk's first)
        lines = split(data, limit, rest)
        rest = lines.pop()
        if len(rest) > limit:
            lines.append(None)
            rest, dropping = b"", True
        if lines:
            yield lines
    if rest:
        yield [rest]


def lines_bounded(stream, limit: int):
    """The lines of `line_batches`, one at a time."""
    for batch in line_batches(stream, limit):
        yield from batch

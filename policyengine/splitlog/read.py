"""A split log read back: whole, in the log's order (one worker), or a part and the clock (a worker
of `eval --workers`, parallel/share.py)."""
from __future__ import annotations

import mmap
import os
from array import array

from policyengine.events.native import split_lines
from policyengine.events.routing import split_spans
from policyengine.logs import lines_bounded, line_batches
from policyengine.splitlog.layout import CHUNKS, CLOCK, UNSURE, Manifest, SplitError, part_file, read_manifest

try:
    from policyengine.events._route import SplitDamaged, interleave
except ImportError:                                  # pragma: no cover - no C compiler at install
    interleave = None

OVERLONG = 0xFF                  # a clock entry's low byte: a line over the limit, kept nowhere


class SplitLog:
    """Read like logs.OpenLog by replay: `name` is the log that was split, so bad lines are named
    and numbered as in it."""

    def __init__(self, folder: str, manifest: Manifest):
        self.folder, self.manifest = folder, manifest
        self.name = manifest.log
        self.max_line_bytes = manifest.max_line_bytes    # lines over it were left out when it was made
        self.size = os.path.getsize(os.path.join(folder, CLOCK))
        self.raw = None
        self._open: list = []
        self._entry = None           # the next clock entry the one-worker reader reads

    def _file(self, name: str):
        f = open(os.path.join(self.folder, name), "rb", buffering=1 << 20)
        self._open.append(f)
        return f

    def position(self) -> int | None:
        return 8 * self._entry if self._entry is not None else None

    def close(self) -> None:
        for f in self._open:
            try:
                f.close()
            except BufferError:          # a run stopped midway: its last chunk's iterator holds the clock, and
                pass                     # the mapping goes with it
        self._open = []

    # One worker: the log's lines in its order, in the chunks the split read them in (as
    # logs.line_batches gave them over the log).
    def batches(self, limit: int):
        if interleave is None:                       # pragma: no cover - no C compiler at install
            yield from self._batches_in_python(limit)
            return
        split = split_spans or split_lines
        names = [part_file(k) for k in range(self.manifest.parts)] + [UNSURE]
        sources = [iter(line_batches(self._file(name), limit, split=split)) for name in names]
        chunks: list = [[] for _ in names]
        at = [0] * len(names)
        clock = self.clock()
        self._entry = 0
        try:
            for size in self._chunk_sizes():
                end, lines = self._entry + size, []
                while self._entry < end:
                    more, self._entry, short = interleave(clock, self._entry, end, chunks, at)
                    lines = lines + more if lines else more
                    if short >= 0:                   # that file's next chunk
                        chunks[short], at[short] = next(sources[short], None), 0
                        if chunks[short] is None:
                            raise self.damaged(f"{names[short]} holds fewer lines than the clock gives it")
                yield lines
        except SplitDamaged as err:
            raise self.damaged(str(err).removeprefix("the split log is damaged: ")) from None
        if any(at[k] < len(chunks[k]) or next(sources[k], None) is not None for k in range(len(names))):
            raise self.damaged("a part holds more lines than the clock gives it")

    def _chunk_sizes(self) -> array:
        sizes = array("I")
        sizes.frombytes(self._file(CHUNKS).read())
        if sum(sizes) != self.manifest.lines:
            raise self.damaged(f"{CHUNKS} does not add up to the clock's {self.manifest.lines:,} lines")
        return sizes

    def _batches_in_python(self, limit: int):
        parts = [lines_bounded(self._file(part_file(k)), limit) for k in range(self.manifest.parts)]
        unsure = lines_bounded(self._file(UNSURE), limit)
        clock = self._file(CLOCK)
        missing = object()
        for size in self._chunk_sizes():
            entries = array("Q")
            entries.frombytes(clock.read(8 * size))
            out = []
            for entry in entries:
                low = entry & 0xFF
                if low == OVERLONG:
                    out.append(None)
                    continue
                line = next(parts[low - 1] if low else unsure, missing)
                if line is missing:
                    raise self.damaged(f"{part_file(low - 1) if low else UNSURE} holds fewer lines than the clock "
                                       "gives it")
                out.append(line)
            yield out
        if any(next(source, missing) is not missing for source in (*parts, unsure)):
            raise self.damaged("a part holds more lines than the clock gives it")

    # A worker of `eval --workers`: its part's lines, the clock, the unsure lines.
    def part_batches(self, share: int, limit: int, split):
        return line_batches(self._file(part_file(share)), limit, split=split)

    def clock(self):
        """The clock's entries, mapped (both workers' pages are the page cache's)."""
        f = self._file(CLOCK)
        if self.manifest.lines == 0:
            return b""
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._open.append(view)
        return view

    def unsure_lines(self, limit: int):
        return lines_bounded(self._file(UNSURE), limit)

    def damaged(self, why: str) -> SplitError:
        return SplitError(f"{self.folder}: the split log is damaged ({why}); split {self.name} again")


def open_split(folder: str) -> SplitLog:
    return SplitLog(folder, read_manifest(folder))

"""A gzip log inflated a few MiB ahead, on a thread of its own.

Inflating a gzip log took a quarter of `eval`'s time on the reference policies (0.22 s of 0.85 s
over 1M events, 19 MB compressed), on the core the rules run on. zlib lets go of the interpreter
while it inflates, so a thread can do it on the other core — but not through `gzip.GzipFile`,
whose Python reads 8 KiB at a time and holds the interpreter between them (measured: no faster on
a thread). Here a thread reads 1 MiB of the file at a time and inflates it in one call of a zlib
decompressor that reads the gzip header and trailer itself (CRC and size checked, as GzipFile
checks them), and the reader takes whole blocks, in order, through a bounded queue. While the
thread runs, the interpreter's switch interval is 0.2 ms instead of 5: zlib takes the interpreter
back once for each block of output it grows, and at 5 ms each of those waits cost more than the
inflating.

What it reads is GzipFile's: members one after another, zero bytes between and after them
skipped, an empty file empty. An error the file holds (a damaged member, a file cut short, a CRC
that does not match) is raised by the read that reaches it, after every byte zlib made before it
(a failed 1 MiB block is inflated again from its start, smaller, to the byte that fails): a cut-short
file gives GzipFile's EOFError; damaged data a zlib.error (GzipFile's own checks said
BadGzipFile). `eval` reports both as a damaged log (replay.py). zlib is stricter than GzipFile
about two things compressors do not write — reserved header flag bits, and a header CRC, which
GzipFile skips unread: such a file is refused here as damaged.

Only `eval` on one worker uses it (logs.open_log's `inflate_ahead`): over 1M events of the
reference policies 0.86 -> 0.68 s (1.26x, as fast as the plain log); the community pack 1.00x (it
is bound by memory, and the thread's inflating shares the machine's cache with it); two workers
or `diff`'s two replays already keep both cores busy, and a thread each made them slower.
"""
from __future__ import annotations

import queue
import sys
import threading
import zlib
from typing import BinaryIO

BLOCK = 1 << 20                 # of the compressed file a read: ~8 MiB of lines
DEPTH = 2                       # inflated blocks held ahead of the reader
PIECE = 1 << 13                 # a failed block inflated again this much at a time, then a byte
SWITCH_S = 0.0002
GZIP = 16 + zlib.MAX_WBITS      # a zlib decompressor that reads a gzip member's header and trailer
_CUT_SHORT = "Compressed file ended before the end-of-stream marker was reached"   # GzipFile's words

_switch_lock = threading.Lock()
_running = 0                    # inflating threads; the switch interval is put back after the last
_saved_switch = 0.005


class InflateAhead:
    """`read`/`read1` of the lines a gzip file holds, inflated ahead by a thread. `close` stops the
    thread and closes the file; a reader that stops early must call it (OpenLog.close does)."""

    def __init__(self, raw: BinaryIO, block: int = BLOCK, depth: int = DEPTH):
        self._raw = raw
        self._block = block
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._held = memoryview(b"")            # what a read smaller than a block left
        # bytes of the file read by the thread, and for progress, where in the file the block in
        # hand began and ended (the thread reads a few MiB ahead of what the reader has had)
        self._read_to = 0
        self._block_from = self._block_to = self._block_len = 0
        self._failed: BaseException | None = None
        self._ended = False
        self.closed = False
        _quick_switch(+1)
        self._thread = threading.Thread(target=self._fill, name="policyengine-inflate", daemon=True)
        self._thread.start()

    # ---- the thread ---------------------------------------------------------------------------
    def _fill(self) -> None:
        try:
            self._inflate()
            self._put(b"")
        except BaseException as err:            # handed to the reader, raised where it reads
            self._put(err)

    def _inflate(self) -> None:
        def read(size: int) -> bytes:
            data = self._raw.read(size)
            self._read_to += len(data)
            return data
        data = read(self._block)
        inflater = None                         # None: between members
        first = True
        while not self._stop.is_set():
            if inflater is None:
                if not first:
                    data = data.lstrip(b"\0")  # zero padding after a member, as GzipFile skips it
                    while not data:
                        data = read(self._block)
                        if not data:
                            return
                        data = data.lstrip(b"\0")
                elif not data:
                    return                      # an empty file: no lines
                inflater, first = zlib.decompressobj(GZIP), False
            self._inflate_block(inflater, data)
            if inflater.eof:                    # the member's trailer checked; another may follow
                data, inflater = inflater.unused_data, None
                continue
            data = read(self._block)
            if not data:
                raise EOFError(_CUT_SHORT)

    def _inflate_block(self, inflater, data: bytes) -> None:
        saved = inflater.copy()
        try:
            out = inflater.decompress(data)
        except zlib.error:
            # everything before the failing byte, as a reader going a little at a time would get it
            for start in range(0, len(data), PIECE):
                piece = data[start:start + PIECE]
                before = saved.copy()
                try:
                    self._put_some(saved.decompress(piece))
                except zlib.error:
                    for i in range(len(piece)):
                        self._put_some(before.decompress(piece[i:i + 1]))   # raises at the failing byte
                    raise
            raise
        self._put_some(out)

    def _put_some(self, out: bytes) -> None:
        if out:
            self._put((out, self._read_to))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    # ---- the reader -----------------------------------------------------------------------------
    def _next(self) -> bool:
        """Another block in hand: False at the end of the lines; raises what the file held."""
        if self._failed is not None:
            raise self._failed
        if self._ended:
            return False
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._failed = item
            raise item
        if not item:
            self._ended = True
            return False
        data, self._block_from, self._block_to = item[0], self._block_to, item[1]
        self._held, self._block_len = memoryview(data), len(data)
        return True

    def position(self) -> int:
        """Where in the file the reader is, for progress: within the block in hand, in proportion
        to what it has had of it (the file's own position runs a few MiB ahead)."""
        if self._block_len == 0:
            return self._block_to
        had = self._block_len - len(self._held)
        return self._block_from + (self._block_to - self._block_from) * had // self._block_len

    def read1(self, size: int = -1) -> bytes:
        """At most `size` bytes (a block's, with -1), at least one unless the lines have ended."""
        if not self._held and not self._next():
            return b""
        if size < 0 or size >= len(self._held):
            out, self._held = self._held, memoryview(b"")
        else:
            out, self._held = self._held[:size], self._held[size:]
        return out.tobytes()

    def read(self, size: int = -1) -> bytes:
        """`size` bytes (everything left, with -1), fewer only at the end of the lines."""
        parts = []
        while size != 0:
            part = self.read1(size)
            if not part:
                break
            parts.append(part)
            if size > 0:
                size -= len(part)
        return b"".join(parts)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        while self._thread.is_alive():          # a filler blocked on a full queue sees the stop
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.01)
        _quick_switch(-1)
        self._raw.close()


def _quick_switch(change: int) -> None:
    """The switch interval short while any inflating thread runs, and as it was after."""
    global _running, _saved_switch
    with _switch_lock:
        if change > 0 and _running == 0:
            _saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_S)
        _running += change
        if change < 0 and _running == 0:
            sys.setswitchinterval(_saved_switch)

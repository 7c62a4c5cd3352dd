"""A gzip log inflated a block at a time, in the reader's thread or a few MiB ahead on its own.

Inflating a gzip log took a quarter of `eval`'s time on the reference policies (0.22 s of 0.85 s
over 1M events, 19 MB compressed), on the core the rules run on. zlib lets go of the interpreter
while it inflates, so a thread can do it on the other core — but not through `gzip.GzipFile`,
whose Python reads 8 KiB at a time and holds the interpreter between them (measured: no faster on
a thread). Here 1 MiB of the file is read at a time and inflated in one call of a decompressor
that reads the gzip header and trailer itself (CRC and size checked, as GzipFile checks them):
ISA-L's (the `isal` package: 1.38 GB/s of lines against zlib's 0.55 and GzipFile's 0.48 over 1M
events' log), or zlib's for a member whose header has flags ISA-L does not check. `InflateAhead`
does it on a thread, and the reader takes whole blocks, in order, through a bounded queue; while
the thread runs, the interpreter's switch interval is 0.2 ms instead of 5: the decompressor takes
the interpreter back once for each block of output it grows, and at 5 ms each of those waits cost
more than the inflating. `Inflated` does it in the reader's own thread.

What it reads is GzipFile's: members one after another, zero bytes between and after them
skipped, an empty file empty. An error the file holds (a damaged member, a file cut short, a CRC
that does not match) is raised by the read that reaches it, after every byte zlib made before it
(a member ISA-L fails on is inflated again by zlib from its start, and a failed 1 MiB block again
from its start, smaller, to the byte that fails): a cut-short file gives GzipFile's EOFError;
damaged data a zlib.error (GzipFile's own checks said BadGzipFile). `eval` reports both as a
damaged log (replay.py). zlib is stricter than GzipFile about two things compressors do not
write — reserved header flag bits, and a header CRC, which GzipFile skips unread: such a file is
refused here as damaged.

`eval` on one worker inflates ahead (logs.open_log's `inflate_ahead`): over 1M events of the
reference policies 0.86 -> 0.68 s with zlib (1.26x, as fast as the plain log); the community pack
1.00x (it is bound by memory, and the thread's inflating shares the machine's cache with it).
Two workers or `diff`'s two replays already keep both cores busy, and a thread each made them
slower: they inflate in their own thread.
"""
from __future__ import annotations

import queue
import sys
import threading
import zlib
from typing import BinaryIO


def _isal():
    """ISA-L's zlib module (2.5x zlib's inflate: 1.38 against 0.55 GB/s of lines), or None where it
    is not installed (a dependency; zlib then does it all). Imported with the first gzip log read,
    not at every start."""
    global isal_zlib
    if isal_zlib is False:
        try:
            from isal import isal_zlib
        except ImportError:                     # pragma: no cover - a dependency
            isal_zlib = None
    return isal_zlib


isal_zlib = False               # not imported yet (_isal)

BLOCK = 1 << 20                 # of the compressed file a read: ~8 MiB of lines
DEPTH = 2                       # inflated blocks held ahead of the reader
PIECE = 1 << 13                 # a failed block inflated again this much at a time, then a byte
SWITCH_S = 0.0002
GZIP = 16 + zlib.MAX_WBITS      # a zlib decompressor that reads a gzip member's header and trailer
_CUT_SHORT = "Compressed file ended before the end-of-stream marker was reached"   # GzipFile's words
# Header flags ISA-L is given a member with: none, or a file name (what gzip(1) writes). zlib
# refuses reserved flag bits and checks a header CRC; ISA-L does neither, so members with other
# flags are zlib's alone.
_PLAIN_FLAGS = (0, 0x08)

_switch_lock = threading.Lock()
_running = 0                    # inflating threads; the switch interval is put back after the last
_saved_switch = 0.005


class _Blocks:
    """The lines a gzip file holds, as (bytes, where the file was read to) a block at a time:
    members one after another, zero bytes between and after them skipped. A member whose header
    is plain is inflated by ISA-L; if ISA-L fails on it (damage, a file cut short), the member is
    inflated again by zlib from its start, what was handed on already left out, so that what comes
    before the error and the error itself are zlib's."""

    def __init__(self, raw: BinaryIO, block: int):
        self.raw, self.block = raw, block
        self.read_to = 0
        self.skip = 0               # bytes inflated again that were handed on before

    def read(self, size: int) -> bytes:
        data = self.raw.read(size)
        self.read_to += len(data)
        return data

    def __iter__(self):
        data = self.read(self.block)
        if not data:
            return                              # an empty file: no lines
        while True:
            data = (yield from self._member(data)).lstrip(b"\0")   # zero padding after a member, as GzipFile skips it
            while not data:
                data = self.read(self.block)
                if not data:
                    return
                data = data.lstrip(b"\0")

    def _member(self, data: bytes):
        """The lines of the member that starts `data`; what follows it."""
        member_at = self.read_to - len(data)
        isal = _isal()
        if isal is not None and len(data) >= 4 and data[3] in _PLAIN_FLAGS:
            rest = yield from self._member_by_isal(isal, data)
            if rest is not None:
                return rest
            # damaged or cut short: zlib from the member's start says where and how
            self.raw.seek(member_at)
            self.read_to = member_at
            data = self.read(self.block)
        inflater = zlib.decompressobj(GZIP)
        while True:
            yield from self._inflate_block(inflater, data)
            if inflater.eof:                    # the member's trailer checked; another may follow
                return inflater.unused_data
            data = self.read(self.block)
            if not data:
                raise EOFError(_CUT_SHORT)

    def _member_by_isal(self, isal, data: bytes):
        """The member's lines by ISA-L, and what follows it; None where ISA-L failed on it, `skip`
        then what it had handed on."""
        inflater, handed = isal.decompressobj(GZIP), 0
        while True:
            try:
                out = inflater.decompress(data)
            except isal.error:
                break
            if out:
                handed += len(out)
                yield out, self.read_to
            if inflater.eof:
                return inflater.unused_data
            data = self.read(self.block)
            if not data:
                break
        self.skip = handed
        return None

    def _inflate_block(self, inflater, data: bytes):
        saved = inflater.copy()
        try:
            out = inflater.decompress(data)
        except zlib.error:
            # everything before the failing byte, as a reader going a little at a time would get it
            for start in range(0, len(data), PIECE):
                piece = data[start:start + PIECE]
                before = saved.copy()
                try:
                    yield from self._some(saved.decompress(piece))
                except zlib.error:
                    for i in range(len(piece)):
                        yield from self._some(before.decompress(piece[i:i + 1]))   # raises at the failing byte
                    raise
            raise
        yield from self._some(out)

    def _some(self, out: bytes):
        if self.skip:                           # handed on before the member was inflated again
            cut = min(self.skip, len(out))
            out, self.skip = out[cut:], self.skip - cut
        if out:
            yield out, self.read_to


class _Reader:
    """`read`/`read1` of the lines, a block at a time (`_take`: an item of _Blocks, b"" at the end,
    or the error it raised), and the reader's position in the file for progress."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._held = memoryview(b"")            # what a read smaller than a block left
        # where in the file the block in hand began and ended (the file is read ahead of it)
        self._block_from = self._block_to = self._block_len = 0
        self._failed: BaseException | None = None
        self._ended = False
        self.closed = False

    def _take(self):
        raise NotImplementedError

    def _next(self) -> bool:
        """Another block in hand: False at the end of the lines; raises what the file held."""
        if self._failed is not None:
            raise self._failed
        if self._ended:
            return False
        item = self._take()
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
        to what it has had of it (the file's own position runs ahead)."""
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


class Inflated(_Reader):
    """The lines of a gzip file, inflated as they are read, in the reader's process and thread:
    for `eval --workers` and `diff`, whose processes keep every core busy (GzipFile, which they
    used, reads 8 KiB at a time through Python: 0.35 s over 1M events' log against 0.12 s here)."""

    def __init__(self, raw: BinaryIO, block: int = BLOCK):
        super().__init__(raw)
        self._blocks = iter(_Blocks(raw, block))

    def _take(self):
        try:
            return next(self._blocks, b"")
        except BaseException as err:            # raised again by every later read
            return err

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._raw.close()


class InflateAhead(_Reader):
    """`read`/`read1` of the lines a gzip file holds, inflated ahead by a thread. `close` stops the
    thread and closes the file; a reader that stops early must call it (OpenLog.close does)."""

    def __init__(self, raw: BinaryIO, block: int = BLOCK, depth: int = DEPTH):
        super().__init__(raw)
        self._blocks = _Blocks(raw, block)
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        _quick_switch(+1)
        self._thread = threading.Thread(target=self._fill, name="policyengine-inflate", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            for item in self._blocks:
                if not self._put(item):
                    return
            self._put(b"")
        except BaseException as err:            # handed to the reader, raised where it reads
            self._put(err)

    def _put(self, item) -> bool:
        """False once the reader has closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _take(self):
        return self._queue.get()

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

"""A gzip log inflated ahead on a thread (policyengine/readahead.py), held to gzip.GzipFile: the
same lines from any whole file, and from a damaged or cut-short one the same error kind, raised
after at least the lines GzipFile gave before it."""
from __future__ import annotations

import gzip
import io
import sys
import threading
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine import readahead
from policyengine.readahead import InflateAhead, Inflated

DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile)


def gzipfile_reads(blob: bytes) -> tuple[bytes, type | None]:
    """What GzipFile gives a reader going a chunk at a time: the bytes, and the error's kind (None
    if the file read through)."""
    got = bytearray()
    f = gzip.GzipFile(fileobj=io.BytesIO(blob), mode="rb")
    try:
        while chunk := f.read1(1 << 16):
            got += chunk
    except DAMAGED as err:
        return bytes(got), EOFError if isinstance(err, EOFError) else zlib.error
    return bytes(got), None


def ahead_reads(blob: bytes, block: int, size: int = 1 << 16, reader=InflateAhead) -> tuple[bytes, type | None]:
    got = bytearray()
    f = reader(io.BytesIO(blob), block=block)
    try:
        while chunk := f.read1(size):
            got += chunk
    except DAMAGED as err:
        return bytes(got), EOFError if isinstance(err, EOFError) else zlib.error
    finally:
        f.close()
    return bytes(got), None


def members(parts: list[bytes], pads: list[int], level: int) -> bytes:
    """Each part a gzip member of its own, with `pads[i]` zero bytes after the i-th."""
    return b"".join(gzip.compress(part, compresslevel=level) + b"\0" * pad for part, pad in zip(parts, pads))


_LINES = st.lists(st.text(alphabet=st.sampled_from("ab 广告加微信\n{}\":,0123456789"), max_size=300)
                  .map(lambda s: s.encode()), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(_LINES, st.lists(st.integers(0, 5), min_size=4, max_size=4), st.integers(1, 9),
       st.sampled_from([1, 3, 64, 4096, 1 << 20]), st.sampled_from([1, 7, 1 << 16]),
       st.sampled_from([InflateAhead, Inflated]))
def test_whole_files_read_as_gzipfile_reads_them(parts, pads, level, block, size, reader):
    blob = members(parts, pads, level)
    assert ahead_reads(blob, block, size, reader) == gzipfile_reads(blob) == (b"".join(parts), None)


def test_isal_inflates_plain_members_and_zlib_the_others(monkeypatch):
    # ISA-L is a dependency (pyproject.toml): a member with no header flags, or a file name only,
    # is its; one with a header CRC or a reserved flag bit is zlib's, which checks the one and
    # refuses the other, as it did before ISA-L.
    assert readahead._isal() is not None
    made = []
    for module in (readahead._isal(), zlib):
        real = module.decompressobj
        monkeypatch.setattr(module, "decompressobj", lambda wbits, real=real, name=module.__name__: made.append(name)
                            or real(wbits))
    lines = b'{"type":"message","user":"u1","text":"hi"}\n' * 50
    plain = gzip.compress(lines)
    named = bytearray(plain)
    named[3] = 0x08                              # FNAME: a zero-ended name after the header
    named[10:10] = b"log.jsonl\0"
    reserved = bytearray(plain)
    reserved[3] = 0x20
    for blob, inflater, error in ((plain, "isal.isal_zlib", None), (bytes(named), "isal.isal_zlib", None),
                                  (bytes(reserved), "zlib", zlib.error)):
        made.clear()
        assert ahead_reads(blob, 1 << 20, reader=Inflated) == (b"" if error else lines, error)
        assert made == [inflater]


@pytest.mark.parametrize("reader", [InflateAhead, Inflated])
def test_a_member_isal_fails_on_is_zlibs_from_its_start(reader):
    # A first member whole, a second whose CRC is wrong: ISA-L fails at the second's end, and zlib
    # inflates that member again from its start — the bytes handed on already not again — to the
    # same error GzipFile gives, after the same bytes.
    first, second = b"a" * 5000 + b"\n", bytes(range(256)) * 300
    bad = bytearray(gzip.compress(second, 9))
    bad[-6] ^= 1
    blob = gzip.compress(first) + bytes(bad)
    theirs = gzipfile_reads(blob)
    assert theirs[1] is zlib.error and theirs[0] == first + second
    for block in (64, 1 << 20):
        assert ahead_reads(blob, block, reader=reader) == theirs


def test_an_empty_file_has_no_lines_and_a_big_one_comes_in_order():
    assert ahead_reads(b"", 1 << 20) == (b"", None)
    lines = b"".join(b'{"type":"message","user":"u%d","text":"%s"}\n' % (i, b"x" * (i % 97)) for i in range(60_000))
    blob = gzip.compress(lines, compresslevel=6)
    assert len(lines) > 4 * len(blob) > 4 * (1 << 16)
    f = InflateAhead(io.BytesIO(blob), block=1 << 16, depth=2)
    assert f.read(10) == lines[:10] and f.read(-1) == lines[10:] and f.read1(5) == b"" and f.read() == b""
    f.close()


@pytest.mark.parametrize("level", [1, 9])
@pytest.mark.parametrize("reader", [InflateAhead, Inflated])
def test_a_file_cut_short_anywhere_is_damaged_after_what_gzipfile_gave(level, reader):
    parts = [b'{"type":"message","user":"u1","text":"hello"}\n' * 40, b'{"type":"join","user":"u2"}\n' * 30]
    blob = members(parts, [0, 0], level)
    whole = b"".join(parts)
    boundary = len(gzip.compress(parts[0], compresslevel=level))
    for cut in range(1, len(blob)):
        theirs, their_error = gzipfile_reads(blob[:cut])
        ours, our_error = ahead_reads(blob[:cut], block=5, reader=reader)
        assert whole.startswith(ours) and len(ours) >= len(theirs), cut
        if cut == boundary:                     # a whole first member: nothing is missing
            assert our_error is their_error is None and ours == parts[0]
        else:
            assert our_error is not None and their_error is not None, cut


@settings(max_examples=300, deadline=None)
@given(st.integers(10, 10_000), st.integers(1, 255), st.sampled_from([3, 256, 1 << 20]),
       st.sampled_from([InflateAhead, Inflated]))
def test_a_damaged_byte_after_the_header_is_found_after_what_gzipfile_gave(at, flip, block, reader):
    lines = b"".join(b'{"type":"message","user":"u%d","text":"hi %d"}\n' % (i, i * i) for i in range(400))
    blob = bytearray(gzip.compress(lines, compresslevel=6))
    at = at % (len(blob) - 10) + 10                                # past the 10-byte header
    blob[at] ^= flip
    theirs, their_error = gzipfile_reads(bytes(blob))
    ours, our_error = ahead_reads(bytes(blob), block, reader=reader)
    # a flip may inflate to other bytes before the CRC finds it: both readers give the same ones
    assert (our_error is None) == (their_error is None)
    if our_error is None:
        assert ours == theirs                                      # a flip no check sees (the header's time)
    else:
        assert ours.startswith(theirs)


def test_close_stops_the_thread_and_puts_the_switch_interval_back():
    before = sys.getswitchinterval()
    lines = b"x" * 10_000_000 + b"\n"
    f = InflateAhead(io.BytesIO(gzip.compress(lines, compresslevel=1)), block=1 << 12, depth=1)
    assert sys.getswitchinterval() == pytest.approx(readahead.SWITCH_S)
    assert f.read(3) == b"xxx"                  # the thread is blocked on a full queue by now
    f.close()
    assert not any(t.name == "policyengine-inflate" for t in threading.enumerate())
    assert sys.getswitchinterval() == before and f.closed
    f.close()                                   # a second close changes nothing
    assert sys.getswitchinterval() == before


def test_an_error_is_raised_again_by_every_later_read():
    f = InflateAhead(io.BytesIO(gzip.compress(b"abc\n")[:-3]), block=1 << 20)
    assert f.read1(2) == b"ab" and f.read1(10) == b"c\n"
    with pytest.raises(EOFError, match="end-of-stream"):
        f.read1(10)
    with pytest.raises(EOFError):
        f.read(1)
    f.close()


def test_eval_decides_the_same_on_a_gzipped_log_as_on_the_plain_one(tmp_path):
    # End to end, through `eval` on one worker (the path that inflates ahead): a log of two
    # members, past one block of the compressed file, decided byte for byte as the plain log.
    import orjson

    from benchmarks.loggen import generate
    from tests.conftest import run_cli
    lines = b"".join(orjson.dumps(e) + b"\n" for e in generate(60_000, seed=3))
    plain, packed = tmp_path / "log.jsonl", tmp_path / "log.jsonl.gz"
    plain.write_bytes(lines)
    packed.write_bytes(gzip.compress(lines[:len(lines) // 2], 6) + gzip.compress(lines[len(lines) // 2:], 1))
    assert packed.stat().st_size > readahead.BLOCK
    runs = [run_cli("eval", "--workers", "1", "--progress", "never", "--policy", "policies/community", str(log))
            for log in (plain, packed)]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout.splitlines()) > 10_000


def test_the_position_for_progress_follows_what_was_read_not_the_thread():
    import random
    rng = random.Random(4)
    lines = b"".join(b'{"user":"u%d","text":"%s"}\n' % (rng.randrange(10**6), bytes(rng.choices(b"abcdefgh", k=60)))
                     for _ in range(40_000))
    blob = gzip.compress(lines, 6)
    raw = io.BytesIO(blob)
    f = InflateAhead(raw, block=1 << 16, depth=2)
    deadline = time.monotonic() + 30
    while not f._queue.full() and time.monotonic() < deadline:   # the thread is ahead before we read
        time.sleep(0.001)
    had, worst_ours, worst_file, last = 0, 0.0, 0.0, 0
    while chunk := f.read1(1 << 15):
        had += len(chunk)
        ours = f.position()
        assert last <= ours <= len(blob)
        last = ours
        worst_ours = max(worst_ours, abs(ours / len(blob) - had / len(lines)))
        worst_file = max(worst_file, raw.tell() / len(blob) - had / len(lines))
    assert f.position() == len(blob) and had == len(lines)
    assert worst_ours < 0.03 < 0.06 < worst_file, (worst_ours, worst_file)   # the file ran ahead
    f.close()


def test_an_open_logs_position_is_the_readers(tmp_path):
    from policyengine.logs import line_batches, open_log
    packed = tmp_path / "log.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(b'{"n":%d}\n' % i for i in range(200_000))))
    log = open_log(str(packed), inflate_ahead=True)
    try:
        assert isinstance(log.stream, InflateAhead) and log.position() == 0
        first = next(line_batches(log.stream, 1 << 20))
        assert first[0] == b'{"n":0}' and 0 < log.position() < log.size
        assert sum(len(batch) for batch in line_batches(log.stream, 1 << 20)) + len(first) == 200_000
        assert log.position() == log.size
    finally:
        log.close()
    plain = open_log(str(packed))               # without it: inflated in the reader's thread
    try:
        assert isinstance(plain.stream, Inflated) and plain.position() == 0
        assert sum(len(batch) for batch in line_batches(plain.stream, 1 << 20)) == 200_000
        assert plain.position() == plain.size
    finally:
        plain.close()

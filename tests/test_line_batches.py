"""logs.line_batches reads chunks and splits lines; it must give the lines a plain split gives,
whatever the chunk size, with over-long lines as None and never held whole."""
import io
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine import logs
from policyengine.events import native
from policyengine.events.routing import split_spans
from policyengine.logs import line_batches

assert split_spans is not None, "events/_route.c was not built"


def plain_split(data: bytes, limit: int) -> list:
    """The lines of `data` by the definition: split at newlines, no line after a final newline,
    a line longer than `limit` bytes replaced by None."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line if len(line) <= limit else None for line in lines]


class Trickle(io.RawIOBase):
    """A stream that gives at most `step` bytes a read, like a pipe."""

    def __init__(self, data: bytes, step: int):
        self.data, self.pos, self.step = data, 0, step

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.step if n < 0 else min(n, self.step)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"", b"a", b"\xe5\x8a\xa0", b"xyz" * 7, b"\r", b"{}", b"q" * 40]), max_size=30),
       st.booleans(), st.integers(1, 64), st.integers(1, 50), st.booleans(), st.booleans())
def test_batches_are_the_plain_split(parts, final_newline, chunk, limit, pipe, without_c):
    data = b"\n".join(parts) + (b"\n" if final_newline and parts else b"")
    # The C split and its Python stand-in (a machine without a compiler) must both give it, and
    # so must a worker's spans (events/_route.c: split_spans), read back line by line.
    with patch.object(logs, "split_lines", native.split_lines_py if without_c else native.split_lines):
        got = [line for batch in line_batches(Trickle(data, chunk) if pipe else io.BytesIO(data), limit, chunk=chunk)
               for line in batch]
    assert got == plain_split(data, limit)
    batches = list(line_batches(Trickle(data, chunk) if pipe else io.BytesIO(data), limit, chunk=chunk, split=split_spans))
    assert [line for batch in batches for line in batch] == plain_split(data, limit)
    assert all(len(batch) == len(list(batch)) > 0 for batch in batches)


def test_spans_are_the_lines_by_hand():
    lines = split_spans(b"ab\ncd\n\nxyz", 3, b"q")            # q: the unfinished line of the chunk before
    assert len(lines) == 4 and list(lines) == [b"qab", b"cd", b"", b"xyz"] and lines[1] == b"cd"
    assert lines.pop() == b"xyz" and list(lines) == [b"qab", b"cd", b""]
    lines.append(None)
    assert list(lines) == [b"qab", b"cd", b"", None] and lines[-1] is None
    # over the limit with the head: None, but never the last piece (the next chunk may end it)
    assert list(split_spans(b"cdef\nx", 4, b"ab")) == [None, b"x"]
    assert list(split_spans(b"cdef", 4, b"ab")) == [b"abcdef"]
    assert list(split_spans(b"", 4, b"")) == [b""]
    one = split_spans(b"last", 10, b"fi")
    assert one.pop() == b"filast" and len(one) == 0 and list(one) == []
    with pytest.raises(IndexError):
        one.pop()
    with pytest.raises(IndexError):
        lines[4]
    with pytest.raises(TypeError):
        lines.append(b"a line")                                  # only over-long lines are appended


def test_every_batch_is_a_non_empty_list():
    data = b"a\n" * 1000 + b"b" * 5000 + b"\nc"
    batches = list(line_batches(io.BytesIO(data), 100, chunk=256))
    assert all(isinstance(b, list) and b for b in batches)
    flat = [line for b in batches for line in b]
    assert flat == [b"a"] * 1000 + [None, b"c"]

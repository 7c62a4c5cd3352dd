"""The per-line checks in C (events/_lines.c) against independent oracles: datetime.fromisoformat
for times, bytes.decode for UTF-8 and datetime arithmetic for the times decisions carry. Where C
answers it must give Python's answer; where it says None, Python decides."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from policyengine.events import _lines, native
from policyengine.events.timestamps import format_ts, parse_ts
from policyengine.replay import ReplayStats, replay

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def oracle_us(text: str) -> int | None:
    """Microseconds since the epoch as fromisoformat sees the text; None if it refuses it or it has no zone."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return (dt - EPOCH) // (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - EPOCH)


def test_hand_computed_times():
    # 2026-11-02 is day 20,759 since 1970-01-01 (56 years: 14 leap days, 56×365+14 = 20,454 to
    # 2026-01-01, plus 305 days of 2026 to November 2nd).
    day = 20_759 * 86_400
    assert _lines.rfc3339_us("2026-11-02T00:00:19.406Z") == (day + 19) * 1_000_000 + 406_000
    # +05:30 is 19,800 s ahead of UTC, so the same wall time is that much earlier.
    assert _lines.rfc3339_us("2026-11-02T00:00:19.123456789+05:30") == (day + 19 - 19_800) * 1_000_000 + 123_456
    assert _lines.rfc3339_us("1970-01-01T00:00:00Z") == 0
    assert _lines.rfc3339_us("1969-12-31T23:59:59.5Z") == -500_000
    assert _lines.rfc3339_us("2024-02-29T00:00:00-01:00") == (19_782 * 86_400 + 3_600) * 1_000_000


@pytest.mark.parametrize("text", [
    "2026-02-29T00:00:00Z",          # not a leap year
    "2026-11-02T24:00:00Z", "2026-11-02T23:60:00Z", "2026-11-02T23:59:60Z",
    "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
    "2026-11-02T00:00:19+24:00", "2026-11-02T00:00:19+23:60",
    "2026-11-02T00:00:19z",          # fromisoformat refuses a lowercase z
    "2026-11-02T00:00:19",           # no zone
    "2026-11-02T00:00:19.1234567890Z",
    "２０２６-11-02T00:00:19Z",
    # a byte next to the digits in ASCII where a digit goes ('/' and ':' around '0'-'9'), in the
    # time read as one word and in the milliseconds read as another
    "2026-11-02T0/:00:19Z", "2026-11-02T00:0::19Z", "2026-11-02T00:00:1:Z", "2026-11-02T00:00:19.1:3Z",
    "2026-11-02T00:00:19.12/Z", "2026-11-02T00:00:19./12Z", "2026-11-02T00-00:19Z", "2026-11-02T00:00-19.123Z",
    "2026-11-02T00:00:19.123+", "2026-11-02T00:00:19.123z",
])
def test_refused_forms_are_left_to_python(text):
    assert _lines.rfc3339_us(text) is None


@pytest.mark.parametrize("text", [
    "2026-11-02 00:00:19Z", "2026-11-02t00:00:19Z", "2026-11-02T00:00:19+0800", "2026-11-02T00:00Z",
    "2026-11-02T00:00:19,5Z", "2026-11-02T00:00:19.Z",
])
def test_other_forms_python_takes_are_left_to_python_and_parse_ts_still_takes_them(text):
    assert _lines.rfc3339_us(text) is None
    assert parse_ts(text) == oracle_us(text) is not None


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
stamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone, sep: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}",
    st.integers(0, 9999), two, two, two, two, two,
    st.one_of(st.just(""), st.text("0123456789", min_size=0, max_size=11).map(lambda f: "." + f)),
    st.one_of(st.just("Z"), st.just("z"), st.just(""),
              st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), two, two)),
    st.sampled_from(["T", "T", "T", " "]),
)


@settings(max_examples=3000, deadline=None)
@given(stamps)
def test_times_agree_with_fromisoformat(text):
    got = _lines.rfc3339_us(text)
    if got is not None:
        assert got == oracle_us(text)


@settings(max_examples=2000, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([timezone.utc] + [
                        timezone(sign * __import__("datetime").timedelta(hours=h, minutes=m))
                        for sign in (1, -1) for h in (0, 5, 8, 23) for m in (0, 30, 59)])),
       st.sampled_from(["seconds", "milliseconds", "microseconds"]))
def test_real_times_in_the_common_forms_are_answered_in_c(dt, spec):
    text = dt.isoformat(timespec=spec).replace("+00:00", "Z")
    assert _lines.rfc3339_us(text) == oracle_us(text)


def _decodes(data: bytes) -> bool:
    try:
        data.decode()
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("data", [
    b"", b"plain ascii, longer than eight bytes", "加微信 看看 😀".encode(),
    b"\xc0\x80", b"\xc1\xbf",                      # overlong two-byte forms
    b"\xe0\x80\x80", b"\xe0\x9f\xbf",              # overlong three-byte forms
    b"\xed\xa0\x80", b"\xed\xbf\xbf",              # surrogates
    b"\xf0\x8f\xbf\xbf",                           # overlong four-byte form
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",      # past U+10FFFF
    b"\xe4\xbd", b"abcdefgh\xe4", b"\x80", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf",
    # Past and inside the 32-byte ASCII blocks.
    b"a" * 31 + b"\xff", b"a" * 33 + "加".encode(), b"a" * 64 + b"\xed\xa0\x80", b"a" * 40 + b"\xe4\xbd",
])
def test_utf8_boundaries(data):
    assert _lines.utf8_valid(data) is _decodes(data)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.binary(max_size=40),
                 st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.lists(st.sampled_from([b"a", b"\x80", b"\xbf", b"\xc2", b"\xe0", b"\xed", b"\xf0", b"\xf4",
                                           b"\x9f", b"\xa0", b"\x8f", b"\x90", b"abcdefgh"]), max_size=12)
                 .map(b"".join)))
def test_utf8_agrees_with_bytes_decode(data):
    assert _lines.utf8_valid(data) is _decodes(data)


def test_utf8_every_two_bytes_and_every_lead_at_the_edges_of_the_32_byte_blocks():
    # Lines of 32 bytes or more are checked 32 at a time where the CPU has AVX2 (events/_text.h),
    # each byte against the ones before it, across blocks: every pair of bytes, and every lead of
    # three and four bytes with the continuations' edge values, placed where a block ends and the
    # next begins; the oracle is Python's decoder.
    wrong = []
    for offset in (0, 31, 32, 63):
        head, tail = b"a" * offset, b"b" * 36
        for a in range(256):
            for b in range(256):
                data = head + bytes((a, b)) + tail
                if _lines.utf8_valid(data) is not _decodes(data):
                    wrong.append(data)
        edges = (0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0)
        for a in range(0xE0, 0x100):
            for b in edges:
                for c in edges:
                    for d in (0x7F, 0x80, 0xBF, 0xC0):
                        data = head + bytes((a, b, c, d)) + tail
                        if _lines.utf8_valid(data) is not _decodes(data):
                            wrong.append(data)
    assert wrong == []


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 70), st.lists(st.sampled_from(["a", "é", "中", "😀", "\u07ff", "\uffff", "\U0010ffff", "\ue000"]),
                                    max_size=40).map("".join),
       st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.integers(0, 255))), st.integers(0, 3))
def test_utf8_of_long_text_agrees_with_bytes_decode(pad, text, change, cut):
    # text past 32 bytes, a byte changed anywhere or the end cut inside a character
    data = b"x" * pad + text.encode()
    if change is not None and data:
        at = change[0] % len(data)
        data = data[:at] + bytes((change[1],)) + data[at + 1:]
    data = data[:len(data) - cut] if cut < len(data) else data
    assert _lines.utf8_valid(data) is _decodes(data)


def test_event_time_answers_only_for_a_common_time_on_a_valid_line():
    line = '{"text":"你好"}'.encode()
    assert _lines.event_time("1970-01-01T00:00:01Z", line) == 1_000_000
    assert _lines.event_time("1970-01-01T00:00:01Z", b'{"text":"\xff"}') is None
    assert _lines.event_time(1, line) is None                      # epoch seconds: parse_ts
    assert _lines.event_time("1970-01-01 00:00:01Z", line) is None


def test_replay_without_the_c_module_decides_the_same(monkeypatch):
    """A machine that could not build the module gets the same decisions and reports."""
    import io

    import orjson

    from benchmarks.loggen import generate
    from policyengine.compiler import compile_program
    from policyengine.events.decode import EventDecoder
    from policyengine.loader import load_paths
    from policyengine.logs import OpenLog
    from policyengine.runtime.evaluator import Evaluator
    from tests.conftest import ROOT

    lines = [orjson.dumps(e) for e in generate(3000, seed=11)]
    # Forms C leaves to Python: a space for `T`, an epoch number; and a line of invalid UTF-8.
    lines[5] = lines[5].replace(b'"ts":"2026-11-02T', b'"ts":"2026-11-02 ')
    # 1793577600 is 2026-11-02T00:00:00Z, before the log's first event: late, and said so.
    lines[9] = b'{"type":"reaction","ts":1793577600,"user":"u1","id":"x9"}'
    lines[12] = lines[12].replace(b'"id":"', b'"junk":"\xff","id":"', 1)
    data = b"\n".join(lines) + b"\n"
    compiled = compile_program(load_paths([str(ROOT / "policies/examples")]).program)

    def run():
        out, said, stats = [], [], ReplayStats()
        replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), Evaluator(compiled),
               EventDecoder(compiled.plan.field_types), out.append, said.append, stats)
        return out, said, stats.events, stats.bad_lines

    with_c = run()
    monkeypatch.setattr("policyengine.replay.event_time", lambda ts, line: None)
    monkeypatch.setattr("policyengine.runtime.helpers.format_us", lambda us: None)
    monkeypatch.setattr("policyengine.runtime.helpers.fold_text", lambda text: None if text is None else text.casefold())
    without_c = run()
    assert with_c == without_c
    assert len(with_c[0]) > 0
    assert [s.split(": ")[0:2] for s in with_c[1]] == [["log.jsonl:10", "warning[W0102]"], ["log.jsonl:13", "error[E0101]"]]
    assert with_c[2:] == (2999, 1)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r\n", b"a", b'{"x":1}', "加".encode(), b"\x00", b"\xff"]), max_size=30)
       .map(b"".join))
def test_split_lines_is_bytes_split(data):
    assert _lines.split_lines(data) == data.split(b"\n")


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"a", b"bcd", "加".encode()]), max_size=30).map(b"".join), st.integers(0, 8))
def test_split_lines_with_a_limit_leaves_out_longer_lines_but_the_last(data, limit):
    pieces = data.split(b"\n")
    expected = [piece if len(piece) <= limit else None for piece in pieces[:-1]] + pieces[-1:]
    assert _lines.split_lines(data, limit) == expected


_PIECES = st.lists(st.sampled_from([b"\n", b"a", b"bcd", "加".encode()]), max_size=30).map(b"".join)


@settings(max_examples=1000, deadline=None)
@given(_PIECES.map(lambda b: b.replace(b"\n", b"")), _PIECES, st.one_of(st.none(), st.integers(0, 8)))
def test_split_lines_with_a_head_splits_the_head_and_the_data_as_one(head, data, limit):
    # A chunk's unfinished last line (no newline in it) is handed back as the head of the next
    # chunk's first.
    pieces = (head + data).split(b"\n")
    if limit is not None:
        pieces[:-1] = [piece if len(piece) <= limit else None for piece in pieces[:-1]]
    assert _lines.split_lines(data, limit, head) == pieces
    assert native.split_lines_py(data, limit, head) == pieces


def test_split_lines_refuses_what_is_not_bytes():
    with pytest.raises(TypeError):
        _lines.split_lines("text")
    with pytest.raises(TypeError):
        _lines.split_lines(b"text", 3, "head")


def oracle_text(us: int) -> str:
    """A decision's time as datetime arithmetic writes it: milliseconds when they are whole."""
    dt = EPOCH + timedelta(microseconds=us)
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if not dt.microsecond:
        return base + "Z"
    if dt.microsecond % 1000 == 0:
        return f"{base}.{dt.microsecond // 1000:03d}Z"
    return f"{base}.{dt.microsecond:06d}Z"


def test_hand_written_decision_times():
    day = 20_759 * 86_400           # 2026-11-02, as in test_hand_computed_times
    assert _lines.format_us((day + 19) * 1_000_000 + 406_000) == "2026-11-02T00:00:19.406Z"
    assert _lines.format_us((day + 3_661) * 1_000_000) == "2026-11-02T01:01:01Z"
    assert _lines.format_us(-1) == "1969-12-31T23:59:59.999999Z"
    # 2024-02-29 is day 19,782: the leap day itself.
    assert _lines.format_us(19_782 * 86_400 * 1_000_000 + 7) == "2024-02-29T00:00:00.000007Z"


# Years 1000–9999 in microseconds from the epoch: C writes all of them.
_FIRST_US = (datetime(1000, 1, 1, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
_LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.integers(_FIRST_US, _LAST_US),
                 st.integers(_FIRST_US, _LAST_US).map(lambda us: us - us % 1000),
                 st.integers(_FIRST_US // 1_000_000, _LAST_US // 1_000_000).map(lambda s: s * 1_000_000)))
def test_decision_times_agree_with_datetime_and_format_ts(us):
    assert _lines.format_us(us) == oracle_text(us) == format_ts(us)


@settings(max_examples=500, deadline=None)
@given(st.integers(_FIRST_US, _LAST_US),
       st.lists(st.sampled_from([0, 0, 1, 999, 1000, 1_000_000, 59_000_000, 3_600_000_000, 86_399_999_999,
                                 86_400_000_000, -1, -86_400_000_000, 10**12]), max_size=30))
def test_decision_times_written_in_a_row_are_each_their_own(start, steps):
    """The C writer keeps the last time and the last day's date: times in a row — the same one
    again, the same day, the day after, the day before, a year away — are each written as the
    oracle writes them alone."""
    us = start
    for step in steps:
        us = min(max(us + step, _FIRST_US), _LAST_US)
        assert _lines.format_us(us) == oracle_text(us)


@pytest.mark.parametrize("value", [_FIRST_US - 1, _LAST_US + 1, 1 << 70, -(1 << 70), 1.5, True, "0"])
def test_decision_times_outside_the_common_years_are_left_to_python(value):
    assert _lines.format_us(value) is None


# The ranges _lines.c folds by itself (folds_to_itself), as code points.
_SELF_FOLDING = [(0x4E00, 0x9FFF), (0x3000, 0x30FF), (0xFF01, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),
                 (0x2000, 0x206F), (0x1F000, 0x1FAFF), (0x3400, 0x4DBF), (0xAC00, 0xD7A3), (0xFE30, 0xFE4F)]


def test_every_character_c_folds_by_itself_folds_to_itself_in_unicode():
    for first, last in _SELF_FOLDING:
        text = "".join(map(chr, range(first, last + 1)))
        assert text.casefold() == text
        assert _lines.casefold(text) == text


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(max_codepoint=0x7F), st.sampled_from("加微信谢谢，。！👍🔥ＡＢａ"),
                                  st.sampled_from("ßΣσẞİıÀéŉǰﬀ"), st.characters())))
def test_casefold_is_str_casefold(text):
    assert _lines.casefold(text) == text.casefold()


def test_casefold_gives_back_text_that_does_not_change():
    same = "谢谢楼主的整理 #76 👍"
    assert _lines.casefold(same) is same
    assert _lines.casefold("Promo.EXAMPLE/加微信") == "promo.example/加微信"
    assert _lines.casefold("ＡＢＣ") == "ａｂｃ"            # fullwidth letters fold: Python decides them
    assert _lines.casefold(None) is None                   # a record's missing text

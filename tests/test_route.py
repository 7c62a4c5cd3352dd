"""Routing lines among workers without decoding them (events/_route.c): "sure" is never wrong.

A line the scan is sure of must be one the program's record decoder takes, with the same `user`
(hashed to the same share as runtime/helpers.share_of) and the same event_time; the oracles are
msgspec's record decoder, the general decoder (orjson) and zlib.
"""
from __future__ import annotations

import json
import random
import zlib

import orjson
import pytest
from hypothesis import given, settings, strategies as st, target

from benchmarks.loggen import generate
from policyengine.events.clock import LATE, Clock, PythonClock, taking
from policyengine.events.decode import EventDecoder
from policyengine.events.native import event_time
from policyengine.events.records import (msgspec_record_decoder, python_timed_decoder, record_fields,
                                         timed_record_decoder)
from policyengine.events.routing import crc32, route, route_fields, routed, split_spans
from policyengine.runtime.helpers import share_of
from tests.conftest import run_cli
from tests.test_records import _log_bytes

# The scan itself, not routing.py's stand-in (which is unsure of every line): `make test` builds
# it, and a build that lost it must fail here rather than skip.
assert route.__module__ == "policyengine.events._route", "events/_route.c was not built"

# A record like the examples': text and a number and a list and a flag the rules read, raw JSON.
RECORD = record_fields({"text": "text", "amount": "number", "roles": "list", "pinned": "bool", "meta": "raw"})
FIELDS = route_fields(RECORD)
DECODE = msgspec_record_decoder(RECORD)     # msgspec's, not the C scan built on the same JSON scans
GENERAL = EventDecoder({"message": {"text": "text", "amount": "number", "roles": "list", "pinned": "bool"}})
PLAIN = b'{"type":"message","ts":"2026-11-02T00:00:25.301Z","user":"u1593","id":"e1","text":"hi"}'
PLAIN_US = 1793577625301000     # 2026-11-02T00:00:25.301Z: 20,759 days since 1970 and 25.301 s


def _routed(line: bytes, shares: int = 1):
    """What share 0 of `shares` is told of the line: the line (own), a time (other's) or (line,)."""
    return route([line], FIELDS, shares, 0)[0]


def test_a_plain_event_is_sure_and_goes_to_its_members_share():
    assert _routed(PLAIN) is PLAIN
    assert PLAIN_US == (20759 * 86400 + 25) * 1_000_000 + 301_000
    user_share = zlib.crc32(b"u1593") % 3
    for share in range(3):
        item = route([PLAIN], FIELDS, 3, share)[0]
        assert item == (PLAIN if share == user_share else PLAIN_US)


@pytest.mark.parametrize("line", [
    PLAIN.replace(b'"u1593"', b'"u\\u0031593"'),                     # user with an escape
    PLAIN.replace(b'"user"', b'"\\u0075ser"'),                       # a key with an escape
    PLAIN.replace(b'"id":"e1"', b'"user":"u2"'),                     # user twice
    PLAIN.replace(b'"id":"e1"', b'"id":"e1","id":null'),             # any record field twice
    PLAIN.replace(b'2026-11-02T00:00:25.301Z', b'2026-11-02 00:00:25Z'),   # a form Python decides
    PLAIN.replace(b'"2026-11-02T00:00:25.301Z"', b'1793577625'),     # epoch seconds
    PLAIN.replace(b'"ts":"2026-11-02T00:00:25.301Z",', b""),        # no ts
    PLAIN.replace(b'"type":"message",', b""),                        # no type
    PLAIN.replace(b'"message"', b'""'),                              # an empty type
    PLAIN.replace(b'"hi"', b"5"),                                    # text of another type
    PLAIN.replace(b'"hi"', b'"hi","amount":true'),                   # a number field holding a flag
    PLAIN.replace(b'"hi"', b'"hi","amount":12345678901234567890'),   # past int64
    PLAIN.replace(b'"hi"', b'"hi","amount":1e3'),                    # an exponent
    PLAIN.replace(b'"hi"', b'"hi","pinned":1'),
    PLAIN.replace(b'"hi"', b'"hi","roles":"admin"'),
    PLAIN.replace(b'"hi"', b'"\\ud83d"'),                            # a lone surrogate
    PLAIN.replace(b'"hi"', b'"\\ude00"'),
    PLAIN.replace(b'"hi"', b'"a\tb"'),                               # a raw control character
    PLAIN.replace(b'"hi"', b'"\\x"'),                                # not an escape
    PLAIN.replace(b'"hi"', b'"\xff"'),                               # not UTF-8
    PLAIN.replace(b'"hi"', b'"\xed\xa0\x80"'),                       # a surrogate in UTF-8
    # Not UTF-8 wherever a string can hold it: each string is checked where it is read.
    PLAIN.replace(b'"u1593"', b'"u\xe4\xbd"'),                        # the user, cut mid-character
    PLAIN.replace(b'"id"', b'"i\xffd"'),                              # a key
    PLAIN.replace(b'"hi"', b'"hi","\xe5\xbc":1'),                     # a key no rule reads
    PLAIN.replace(b'"hi"', b'"hi","other":"a\xc0\xafb"'),              # an overlong form, unread
    PLAIN.replace(b'"hi"', b'"a\\n\xff"'),                            # an escaped string
    PLAIN.replace(b'"hi"', b'"hi","roles":["a","\xff"]'),             # in a list
    PLAIN.replace(b'"hi"', b'"hi","meta":{"\xed\xa0\x80":1}'),          # a key in raw JSON
    PLAIN[:-1],                                                      # cut short
    PLAIN + b"x",                                                    # something after it
    PLAIN.replace(b'"hi"}', b'"hi",}'),                              # a trailing comma
    b"\xef\xbb\xbf" + PLAIN,                                         # a byte order mark
    PLAIN.replace(b'"hi"', b'"hi","meta":' + b"[" * 40 + b"]" * 40),  # nested too deep
    b"[1, 2]", b"", b"   ", b"{}", b"null",
])
def test_lines_the_scan_is_not_sure_of_go_to_every_worker(line):
    assert _routed(line) == (line,)


def test_what_the_scan_takes_besides_the_plainest_line():
    # Escapes in text, a surrogate pair, whitespace around every token, numbers the record takes,
    # raw JSON nested below the limit, unknown fields of any kind, null where allowed.
    line = (b' { "type" : "message" , "ts" : "2026-11-02T08:00:25.301+08:00" , "user" : "\xe5\xbc\xa0" ,'
            b' "text" : "a\\"b\\\\c\\n\\ud83d\\ude00\xe4\xbd\xa0" , "amount" : -12.5 , "roles" : [ "a" , [ ] , { } ] ,'
            b' "pinned" : false , "meta" : {"a": [1, 2.5, true, null, {"b": "c"}]} , "other" : 123456789012 ,'
            b' "id" : null } ')
    assert _routed(line) is line
    assert route([line], FIELDS, 2, 1 - share_of("张", 2))[0] == PLAIN_US     # the same instant at +08:00
    assert orjson.loads(line)["user"] == "张"


def test_a_user_and_a_time_inside_raw_json_are_not_the_events():
    # A raw field may hold an object with keys named like the record's: the scan reads the event's
    # own `user` and `ts`, at the top level, before or after it, as the decoders do.
    other = b'{"user":"u2","ts":"2026-11-03T00:00:00Z","type":"join"}'   # u2 is in the other share
    for line in (PLAIN.replace(b'"hi"', b'"hi","meta":' + other),
                 PLAIN.replace(b'{"type"', b'{"meta":[' + other + b'],"type"')):
        assert orjson.loads(line)["user"] == "u1593" and DECODE(line).user == "u1593"
        mine = share_of("u1593", 2)
        assert share_of("u2", 2) != mine
        assert route([line], FIELDS, 2, mine)[0] is line
        assert route([line], FIELDS, 2, 1 - mine)[0] == PLAIN_US       # the event's time, not the inner one


def test_a_predicted_key_is_as_valid_as_the_one_it_was_predicted_from():
    # A key is compared with the one the line before had there before it is scanned
    # (events/_json_scan.h); a key that is not UTF-8 must not be predicted, and one past ASCII that
    # is must still let the line's other strings be checked.
    bad_key = PLAIN.replace(b'"hi"', b'"hi","k\xffey":"v"')
    assert route([bad_key, bad_key, PLAIN], FIELDS, 1, 0) == [(bad_key,), (bad_key,), PLAIN]
    good_key = PLAIN.replace(b'"hi"', b'"hi","\xe9\x94\xae":1')                   # "键"
    bad_text = good_key.replace(b'"hi"', b'"h\xffi"')
    assert route([good_key, good_key, bad_text, good_key], FIELDS, 1, 0) == [good_key, good_key, (bad_text,),
                                                                              good_key]


def test_over_long_lines_stand_for_themselves():
    assert route([None, PLAIN], FIELDS, 1, 0) == [(None,), PLAIN]


@given(st.binary(max_size=64))
def test_crc32_is_zlibs(data):
    assert crc32(data) == zlib.crc32(data)


# Lines built from parts that are each sometimes right and sometimes wrong for the record.
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_text, inner, max_size=3)), max_leaves=6)
_good_time = st.sampled_from(["2026-11-02T00:00:25.301Z", "2026-11-02T08:00:25+08:00"])
_bad_time = st.sampled_from(["2026-02-30T00:00:00Z", "2026-11-02 00:00:25Z", "2026-11-02T00:00:25", ""])
_name = st.text(alphabet="abuz019_-张三\n\"\\", min_size=1, max_size=8)
# Each field's value: mostly of the kind the record takes, sometimes any JSON at all.
_right = {"type": st.sampled_from(["message", "join"]), "user": _name, "ts": _good_time, "id": st.one_of(st.none(), _text),
          "text": st.one_of(st.none(), _text), "amount": st.one_of(st.none(), st.integers(-(1 << 65), 1 << 65),
                                                                  st.floats(allow_nan=False, allow_infinity=False)),
          "roles": st.one_of(st.none(), st.lists(_json, max_size=3)), "pinned": st.one_of(st.none(), st.booleans()),
          "meta": _json, "other": _json}
_values = set(_right)


@st.composite
def lines(draw):
    extra = draw(st.lists(st.sampled_from(sorted(_values - {"type", "user", "ts"})), max_size=6, unique=True))
    keys = draw(st.permutations(["type", "user", "ts"] + extra))
    if draw(st.integers(0, 9)) == 0:
        keys = keys[1:]                  # a required field missing
    if draw(st.integers(0, 9)) == 0:
        keys = keys + draw(st.sampled_from([keys[-1:], ["user"]]))     # a field twice
    parts = []
    for key in keys:
        # Escaped as json.dumps does by default (every non-ASCII character) or raw UTF-8.
        value = draw(_right[key] if draw(st.integers(0, 9)) else _json)
        value = json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
        if draw(st.integers(0, 19)) == 0:   # a string that is not UTF-8 (msgspec skips unread ones unchecked)
            value = b'"a' + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe4\xbd"])) + b'b"'
        parts.append(b'"' + key.encode() + b'"' + draw(st.sampled_from([b":", b" : "])) + value)
    line = b"{" + b",".join(parts) + b"}"
    if draw(st.integers(0, 9)) == 0:
        line = line.replace(b"2026-11-02T00:00:25.301Z", draw(_bad_time).encode())
    if draw(st.integers(0, 3)) == 0:     # a byte changed or the line cut short
        cut = draw(st.integers(1, len(line) - 1))
        line = line[:cut] + draw(st.sampled_from([b"", b"\xff", b'"', b"\\", b" ", b"1", b"}"])) + line[cut + 1:]
    return line


@settings(max_examples=3000, deadline=None)
@given(lines(), st.integers(1, 4))
def test_a_sure_line_is_an_event_of_that_member_at_that_time(line, shares):
    # About one generated line in ten is sure; `target` steers the search towards more of them.
    target(float(route([line], FIELDS, 1, 0)[0].__class__ is not tuple))
    for share in range(shares):
        item = route([line], FIELDS, shares, share)[0]
        if item.__class__ is tuple:
            assert item == (line,)
            continue
        record = DECODE(line)                       # raises if the scan was wrong to be sure
        ts = event_time(record.ts, line)
        assert ts is not None
        event, general_ts = GENERAL.decode(line)    # the general decoder agrees it is an event
        assert event["user"] == record.user and general_ts == ts
        if share_of(record.user, shares) == share:
            assert item is line
        else:
            assert item == ts


def test_every_line_of_the_benchmark_log_is_sure():
    # Otherwise every worker would still decode every line: the split would save nothing.
    log = [orjson.dumps(event) for event in generate(3000, seed=11)]
    items = route(log, FIELDS, 2, 0)
    assert sum(item.__class__ is tuple for item in items) == 0
    assert 1000 < sum(item.__class__ is int for item in items) < 2000


def _eval_in_process(args, capfd):
    """eval in this process, so a monkeypatched route reaches the workers it forks: (code, out, err)."""
    from policyengine.cli.main import main
    capfd.readouterr()
    code = main(args)
    got = capfd.readouterr()
    return code, got.out.encode(), got.err


def test_workers_unsure_of_every_line_decide_as_one_worker(tmp_path, monkeypatch, capfd):
    """Where the C scan is missing (events/routing.py's stand-in), every line is one every worker
    judges: the slow path must give one worker's output too, bad lines and late events included."""
    from policyengine.parallel import share as share_evaluator
    log = tmp_path / "log.jsonl"
    log.write_bytes(_log_bytes(3000, seed=4))
    args = ["eval", "--quiet", "--policy", "policies/examples", "--until", "2026-12-31T00:00:00Z", str(log)]
    one = run_cli(*args, "--workers", "1")
    assert one.returncode == 0 and b"error[E0101]" in one.stderr and b"warning[W0102]" in one.stderr
    monkeypatch.setattr(share_evaluator, "routed", None)    # as where events/_route.c was not built
    monkeypatch.setattr(share_evaluator, "split_spans", None)
    monkeypatch.setattr(share_evaluator, "route", lambda lines, fields, shares, share, exchange=None: [(line,) for line in lines])
    code, out, err = _eval_in_process([*args, "--workers", "2"], capfd)
    assert code == 0 and out == one.stdout and err == one.stderr.decode()


def test_a_line_routed_wrongly_makes_eval_run_on_one_worker(tmp_path, monkeypatch, capfd):
    """If the scan were ever sure of a line the decoder refuses, the other workers would have moved
    their clocks by it: the run must notice and run again on one worker, deciding the same."""
    from policyengine.parallel import share as share_evaluator
    log = tmp_path / "log.jsonl"
    log.write_bytes(_log_bytes(2000, seed=3))          # with bad lines in it
    args = ["eval", "--quiet", "--policy", "policies/examples", str(log)]
    one = run_cli(*args, "--workers", "1")
    assert one.returncode == 0 and one.stdout

    def wrong(lines, fields, shares, share, exchange=None):   # every line "sure", and the share's own
        return list(lines)
    monkeypatch.setattr(share_evaluator, "routed", None)      # the route below, through events/clock.py's taking
    monkeypatch.setattr(share_evaluator, "route", wrong)      # the workers fork from this process
    code, out, err = _eval_in_process([*args, "--workers", "2"], capfd)
    assert code == 0
    assert err.startswith("note: --workers 2: running on one worker: a line routed as an event was refused")
    assert out == one.stdout
    assert err.split("\n", 1)[1] == one.stderr.decode()


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), min_size=2, max_size=12), st.integers(1, 3))
def test_a_chunk_routes_as_its_lines_one_by_one(chunk, shares):
    # Within a chunk the scan predicts each key from the line before (events/_json_scan.h); a line
    # alone has nothing to predict from, so routing it alone is the oracle for routing it in a chunk.
    chunk = chunk + chunk[::-1]
    for share in range(shares):
        assert route(chunk, FIELDS, shares, share) == [route([line], FIELDS, shares, share)[0] for line in chunk]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["u1", "u1593", "成员", "spam-7", "x"]), min_size=1, max_size=12),
       st.binary(min_size=1, max_size=8), st.integers(0, 3))
def test_a_partition_routes_each_member_where_share_of_puts_it(users, raw, share):
    # A partition's bytes name shares: a member's share is the byte at its CRC-32 modulo the
    # partition's length — by hand here, with zlib's CRC-32 as the oracle.
    partition = bytes(b % 4 for b in raw)
    log = [PLAIN.replace(b'"u1593"', orjson.dumps(user)) for user in users]
    items = route(log, FIELDS, partition, share)
    for user, line, item in zip(users, log, items):
        owner = partition[zlib.crc32(user.encode()) % len(partition)]
        assert share_of(user, partition) == owner
        assert item == (line if owner == share else PLAIN_US)


def test_an_empty_partition_is_refused():
    with pytest.raises(ValueError):
        route([PLAIN], FIELDS, b"", 0)


def _spans_of(chunk: list):
    """`chunk` as a worker reads it (events/_route.c: split_spans): an over-long line (None) is one
    past the limit, and the last piece, which split_spans never judges, popped."""
    long = b"x" * 20_000
    lines = split_spans(b"\n".join(long if line is None else line for line in chunk + [b""]), 19_999, b"")
    assert lines.pop() == b""
    return lines


def _some_late(seed: int, n: int) -> list:
    """The benchmark log's lines with some moved earlier (late events) and some no scan is sure of."""
    rng = random.Random(seed)
    chunk = [orjson.dumps(event) for event in generate(n, seed=seed)]
    for _ in range(n // 10):
        i, j = rng.randrange(n), rng.randrange(n)
        chunk[i], chunk[j] = chunk[j], chunk[i]
    for i in rng.sample(range(n), n // 20):
        chunk[i] = rng.choice([b"{not json", chunk[i][:-3], None, b"", b'{"type":"message"}'])
    return chunk


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.booleans(), st.integers(-3, 400), st.one_of(st.none(), st.integers(0, 400)))
def test_routed_is_route_taken_by_the_clock(seed, shares, as_spans, watermark, due):
    # routed (one pass in C) against its definition: route's items through taking with PythonClock,
    # item by item with the count taken before each, and the clock where each leaves it.
    chunk = _some_late(seed, 300)
    times = sorted(t for share in (0, 1) for t in route(chunk, FIELDS, 2, share) if type(t) is int)
    start = times[0] if times else PLAIN_US
    for share in range(shares):
        seen = []
        for make, routing in ((PythonClock, lambda c: taking(c, route(chunk, FIELDS, shares, share))),
                              (Clock, lambda c: routed(_spans_of(chunk) if as_spans else chunk, FIELDS, shares, share,
                                                       None, c)),
                              # with the share's member index, whose rows of the lines ahead it asks for
                              (Clock, lambda c: routed(_spans_of(chunk) if as_spans else chunk, FIELDS, shares, share,
                                                       None, c, _index_of(chunk)))):
            clock = make()
            clock.watermark = start + watermark * 10_000_000 if watermark >= 0 else None
            if due is not None:
                clock.due = start + due * 10_000_000
            items = routing(clock)
            seen.append(([(item, items.taken) for item in items], items.taken, clock.watermark))
        assert seen[1] == seen[0] and seen[2] == seen[0]
        handed, after, _ = seen[0]
        not_own = sum(type(item) is not bytes for item, _ in handed)
        assert sum(taken for _, taken in handed) + after + not_own == len(chunk)


def _index_of(chunk: list):
    """A member index holding the chunk's members (every other one), with a column or two of
    values: what routed's look-ahead reads."""
    from policyengine.runtime._columns import Column, MemberIndex
    index = MemberIndex()
    counts, lists = Column(index), Column(index)
    for n, line in enumerate(chunk):
        try:
            user = orjson.loads(line).get("user") if line else None
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(user, str) and n % 2:
            counts[user] = n
            lists[user] = [n]
    return index


def test_routed_takes_a_member_index_or_none_and_nothing_else():
    chunk = [orjson.dumps(e) for e in generate(20, seed=1)]
    assert list(routed(chunk, FIELDS, 1, 0, None, Clock(), None)) == list(routed(chunk, FIELDS, 1, 0, None, Clock()))
    with pytest.raises(TypeError, match="index: MemberIndex"):
        routed(chunk, FIELDS, 1, 0, None, Clock(), {})


def _field_values(record) -> list:
    return [getattr(record, name) for name in record.__struct_fields__]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.booleans())
def test_an_own_line_decodes_with_the_time_the_route_read(seed, shares, as_spans):
    # decode_timed takes a routed own line's time from the route's scan, through the clock
    # (events/_clock_state.h: scanned), instead of reading it again. The oracle: msgspec's record
    # and event_time on a PythonClock fed by taking() over route(), in lockstep, each own line
    # decoded by both and the clocks compared after it.
    chunk = _some_late(seed, 300)
    timed, definition = timed_record_decoder(RECORD), python_timed_decoder(DECODE)
    own = 0
    for share in range(shares):
        clock, definition_clock = Clock(), PythonClock()
        items = routed(_spans_of(chunk) if as_spans else chunk, FIELDS, shares, share, None, clock)
        expected_items = taking(definition_clock, route(chunk, FIELDS, shares, share))
        for item, want in zip(items, expected_items, strict=True):
            assert item == want
            if type(item) is not bytes:
                continue
            own += 1
            record, ts = timed(item, clock)
            want_record, want_ts = definition(want, definition_clock)
            assert (_field_values(record), ts) == (_field_values(want_record), want_ts)
            assert (clock.watermark, clock.stop, clock.ts) == (definition_clock.watermark, definition_clock.stop,
                                                              definition_clock.ts)
    # own lines were decoded, not only other shares' times: by some share (a log of 300 events can
    # be nearly all one spam account's, which leaves another share none, as seed 1022 does)
    assert own > 0


def test_only_the_routed_line_itself_takes_the_routes_time():
    # The time is handed on for the very object routed gave (by identity): another line decoded
    # with the same clock before it — an equal copy, or a line at another time — reads its own.
    line = PLAIN.replace(b"00:00:25.301Z", b"00:00:30.000Z")
    later = PLAIN.replace(b"00:00:25.301Z", b"00:00:40.000Z")
    timed = timed_record_decoder(RECORD)
    clock = Clock()
    items = routed([line, line], FIELDS, 1, 0, None, clock)
    first = next(items)
    assert first == line
    assert timed(later, clock)[1] == PLAIN_US + 14_699_000         # its own time, 40.000 s
    assert timed(first, clock) == (timed(first, Clock())[0], None)  # its own again: 30 s is late now
    assert clock.stop == LATE and clock.ts == PLAIN_US + 4_699_000


def test_routed_by_hand():
    # Two members' plain events at 0 s, 5 s, 3 s, 9 s (user a in share 0, b in share 1 of a
    # partition of one bucket each way: CRC-32 decides; here by a partition naming share 1 for all
    # but "a"'s bucket), the watermark at 1 s, a timer due at 9 s.
    def line(user, s):
        return PLAIN.replace(b'"u1593"', b'"' + user + b'"').replace(b"00:00:25.301Z", b"00:00:%02d.000Z" % s)
    partition = bytearray([1]) * 1024
    partition[zlib.crc32(b"a") % 1024] = 0
    chunk = [line(b"b", 0), line(b"b", 5), line(b"a", 6), line(b"b", 3), b"?", line(b"b", 7), line(b"b", 9)]
    base = PLAIN_US - 25_301_000
    clock = Clock()
    clock.watermark, clock.due = base + 1_000_000, base + 9_000_000
    items = routed(chunk, FIELDS, bytes(partition), 0, None, clock)
    got = [(item, items.taken, clock.watermark) for item in items]
    assert got == [(base + 0, 0, base + 1_000_000),            # b at 0 s: late, handed on
                   (chunk[2], 2, base + 5_000_000),            # b at 5 s taken; a's own line, counted with it
                   (base + 3_000_000, 0, base + 5_000_000),    # late (the clock took 5 s; a's own is the loop's)
                   ((b"?",), 0, base + 5_000_000),             # unsure
                   (base + 9_000_000, 1, base + 7_000_000)]    # 7 s taken, 9 s has the timer due by it
    assert items.taken == 0
    with pytest.raises(TypeError):
        routed(chunk, FIELDS, 2, 0, None, PythonClock())       # only the C clock, whose layout it reads

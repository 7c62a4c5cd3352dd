"""Log lines read into records by the C scan (events/_records.c): the record msgspec makes, or none.

The oracle is msgspec's decoder for the same record type (records.msgspec_record_decoder): a
record the scan makes must equal msgspec's value for value and type for type, and a line it does
not take must come out of `decode` exactly as msgspec has it — the same record or the same error.
"""
from __future__ import annotations

import json
import sys

import msgspec
import orjson
import pytest
from hypothesis import given, settings, strategies as st, target

from benchmarks.loggen import generate
from policyengine.events.native import event_time
from policyengine.events.records import msgspec_record_decoder, record_decoder, record_fields, timed_record_decoder
from tests.test_route import lines

RECORD = record_fields({"text": "text", "amount": "number", "roles": "list", "pinned": "bool", "meta": "raw"})
DECODE = record_decoder(RECORD)
SCAN = DECODE.__self__.scan
MSGSPEC = msgspec_record_decoder(RECORD)
TIMED = timed_record_decoder(RECORD)
# `make test` builds the scan; a build that lost it must fail here rather than test msgspec against itself.
assert DECODE.__self__.__class__.__module__ == "policyengine.events._records", "events/_records.c was not built"
PLAIN = b'{"type":"message","ts":"2026-11-02T00:00:25.301Z","user":"u1593","id":"e1","text":"hi"}'


def _values(record) -> list[tuple[type, object]]:
    return [(type(getattr(record, name)), getattr(record, name)) for name in record.__struct_fields__]


def _outcome(decode, line):
    try:
        record = decode(line)
    except Exception as err:          # noqa: BLE001 - the error is the outcome compared
        return "error", type(err), str(err)
    return "record", type(record), _values(record)


def _timed(line):
    """The oracle of decode_timed: msgspec's record and events/_lines.c's event_time of it."""
    record = MSGSPEC(line)
    return record, event_time(record.ts, line)


def _timed_outcome(decode_timed, line):
    try:
        record, ts = decode_timed(line)
    except Exception as err:          # noqa: BLE001 - the error is the outcome compared
        return "error", type(err), str(err)
    return "record", type(record), _values(record), ts


def test_the_plain_line_is_read_by_the_scan_as_written():
    record = SCAN(PLAIN)
    assert record is not None
    assert (record.type, record.user, record.ts, record.id, record.get("text")) == \
        ("message", "u1593", "2026-11-02T00:00:25.301Z", "e1", "hi")
    assert record.get("amount") is None and record.get("pinned") is None and record.get("roles") is None
    # The event type is the one interned str, not a new one a line.
    assert record.type is sys.intern("message")
    assert _values(record) == _values(MSGSPEC(PLAIN))


def test_what_the_scan_takes_besides_the_plainest_line():
    line = (b' { "type" : "join" , "ts" : 1793577625 , "user" : "\xe5\xbc\xa0" ,'
            b' "text" : "a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xe4\xbd\xa0" , "amount" : -123456789012345678 ,'
            b' "roles" : null , "pinned" : false , "other" : {"a": [1, 2.5, true, null, {"b": "c"}]} ,'
            b' "id" : null , "more" : -0.5 } \r')
    record = SCAN(line)
    assert record is not None
    assert record.user == "张" and record.ts == 1793577625 and record.id is None
    assert record.get("text") == 'a"b\\c/\b\f\n\r\té\U0001F600你'
    assert record.get("amount") == -123456789012345678 and record.get("pinned") is False
    assert _values(record) == _values(MSGSPEC(line))
    long_escaped = b'{"type":"x","ts":"t","user":"u","text":"' + b"\\u4f60" * 300 + b'"}'     # past the stack buffer
    assert SCAN(long_escaped).get("text") == "你" * 300


@pytest.mark.parametrize("line", [
    PLAIN.replace(b'"user"', b'"\\u0075ser"'),                       # a key with an escape
    PLAIN.replace(b'"id":"e1"', b'"id":"e1","id":null'),             # a record field twice (msgspec keeps the last)
    PLAIN.replace(b'"message"', b'""'),                              # an empty type
    PLAIN.replace(b'"u1593"', b'""'),                                # an empty user
    PLAIN.replace(b'"message"', b"null"),                            # a required field null
    PLAIN.replace(b'"ts":"2026-11-02T00:00:25.301Z",', b""),        # no ts
    PLAIN.replace(b'"2026-11-02T00:00:25.301Z"', b"1793577625.5"),   # a time that is a fraction
    PLAIN.replace(b'"hi"', b'"hi","amount":1.5'),                    # a fraction where a number goes
    PLAIN.replace(b'"hi"', b'"hi","amount":1234567890123456789'),    # 19 digits
    PLAIN.replace(b'"hi"', b'"hi","amount":1e3'),                    # an exponent
    PLAIN.replace(b'"hi"', b'"hi","roles":["admin"]'),               # a list
    PLAIN.replace(b'"hi"', b'"hi","meta":{}'),                       # raw JSON
    PLAIN.replace(b'"hi"', b'"hi","other":' + b"[" * 40 + b"]" * 40),  # nested deeper than the scan goes
    PLAIN.replace(b'"hi"', b'"\\ud83d"'),                            # a lone surrogate
    PLAIN.replace(b'"hi"', b'"\xff"'),                               # a read string that is not UTF-8
    PLAIN.replace(b'"hi"', b'"a\tb"'),                               # a raw control character
    PLAIN.replace(b'"hi"', b"5"),                                    # text of another type
    PLAIN[:-1], PLAIN + b"x", PLAIN.replace(b'"hi"}', b'"hi",}'),
    b"[1]", b"", b"{}", b"null", None,
])
def test_lines_the_scan_does_not_take_are_msgspecs(line):
    assert SCAN(line) is None
    assert _outcome(DECODE, line) == _outcome(MSGSPEC, line)


def test_a_string_the_scan_skips_is_not_checked_for_utf8_as_msgspec_does_not():
    line = PLAIN.replace(b'"hi"', b'"hi","other":"\xff"')
    assert _values(SCAN(line)) == _values(MSGSPEC(line))


# Bytes around every boundary strict UTF-8 draws: ASCII's end, continuation bytes, the overlong
# leads C0 C1, each lead's second-byte limits (E0 A0, ED 9F/A0 the surrogates, F0 90, F4 8F/90),
# leads past F4; and whole characters of every width (the str's kind: 1, 2 or 4 bytes).
_UTF8_PIECES = st.one_of(
    st.sampled_from([b"\x7f", b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc2\x80", b"\xc3\xbf", b"\xc4\x80",
                     b"\xdf\xbf", b"\xe0\x9f\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80",
                     b"\xef\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
                     b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xe4\xbd", b"\xf0\x9f\x91", b"a"]),
    st.characters(min_codepoint=0x20, blacklist_characters='"\\', blacklist_categories=("Cs",)).map(
        lambda c: c.encode()))


@settings(max_examples=2000, deadline=None)
@given(st.lists(_UTF8_PIECES, min_size=1, max_size=12))
def test_a_read_string_is_strict_utf8_as_python_decodes_it(pieces):
    """The scan's own UTF-8 decoding (utf8_text) against Python's strict codec, an oracle apart from
    msgspec: the same str — kind and all, for a str of a wider kind than it needs is not equal to
    the one Python makes — or no record from the scan and msgspec's error from decode."""
    raw = b"".join(pieces)
    line = PLAIN.replace(b'"hi"', b'"' + raw + b'"')
    try:
        expected = raw.decode("utf-8")
    except UnicodeDecodeError:
        assert SCAN(line) is None
        assert _outcome(DECODE, line) == _outcome(MSGSPEC, line)
        return
    record = SCAN(line)
    assert record is not None and record.get("text") == expected
    assert _values(record) == _values(MSGSPEC(line))


@settings(max_examples=3000, deadline=None)
@given(lines())
def test_a_record_the_scan_makes_is_msgspecs(line):
    record = SCAN(line)
    target(float(record is not None))
    expected = _outcome(MSGSPEC, line)
    if record is not None:
        assert expected == ("record", type(record), _values(record))
    assert _outcome(DECODE, line) == expected
    assert _timed_outcome(TIMED, line) == _timed_outcome(_timed, line)


@pytest.mark.parametrize("line, us", [
    (PLAIN, 1793577625301000),                                           # 20 759 days and 25.301 s
    (PLAIN.replace(b"25.301Z", b"25.301+08:00"), 1793577625301000 - 8 * 3600 * 1_000_000),
    (PLAIN.replace(b'"hi"', b'"\\u4f60\xe5\xa5\xbd"'), 1793577625301000),  # escapes and UTF-8 read into str
    (PLAIN.replace(b'"hi"', b'"hi","other":"\xe5\xa5\xbd"'), 1793577625301000),   # UTF-8 in a skipped string
    (PLAIN.replace(b'"id"', b'"\xe5\xa5\xbd"'), 1793577625301000),       # ... in a key
    (PLAIN.replace(b'"hi"', b'"hi","other":"\xff"'), None),              # not UTF-8 where no rule reads
    (PLAIN.replace(b'"id"', b'"\xed\xa0\x80"'), None),                   # a surrogate in a key
    (PLAIN.replace(b'"hi"', b'"hi","other":["\xc0\xaf"]'), None),        # overlong, nested
    (PLAIN.replace(b'"2026-11-02T00:00:25.301Z"', b'"2026-11-02 00:00:25Z"'), None),   # a form Python reads
    (PLAIN.replace(b'"2026-11-02T00:00:25.301Z"', b'"2026-11-02T00:00:25.301\\u005a"'), 1793577625301000),  # escaped
    (PLAIN.replace(b'"2026-11-02T00:00:25.301Z"', b"1793577625"), None),  # a number
    (PLAIN.replace(b'"hi"', b'["hi"]').replace(b'"text"', b'"roles"'), 1793577625301000),   # msgspec's record
])
def test_decode_timed_gives_the_time_event_time_gives(line, us):
    record, ts = TIMED(line)
    assert ts == us and (ts is None) == (us is None)
    assert _values(record) == _values(MSGSPEC(line)) and ts == event_time(record.ts, line)


def test_decode_timed_of_what_is_not_a_line_is_msgspecs_error():
    with pytest.raises(TypeError):
        TIMED(None)
    with pytest.raises(msgspec.DecodeError):
        TIMED(b"{")
    # A list of strings msgspec reads, one not UTF-8: msgspec's UnicodeDecodeError (a ValueError,
    # which replay counts as a line records do not take).
    line = PLAIN.replace(b'"hi"', b'["\xff"]').replace(b'"text"', b'"roles"')
    assert _timed_outcome(TIMED, line)[:2] == _outcome(MSGSPEC, line)[:2] == ("error", UnicodeDecodeError)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "user", "ts", "id", "text", "amount", "pinned", "x", "张"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(st.integers(), max_size=2)),
                       max_size=8),
       st.booleans())
def test_objects_of_any_values_decode_as_msgspec_has_them(event, ascii_only):
    line = json.dumps(event, ensure_ascii=ascii_only).encode()
    assert _outcome(DECODE, line) == _outcome(MSGSPEC, line)


def test_every_line_of_the_benchmark_log_is_taken_by_the_scan():
    # Otherwise the benchmark would measure msgspec and the scan would save nothing.
    record = record_fields({"text": "text", "channel": "text", "target": "text", "target_user": "text",
                            "roles": "list", "invited_by": "raw"})
    scan = record_decoder(record).__self__.scan
    log = [orjson.dumps(event) for event in generate(3000, seed=11)]
    taken = [scan(line) is not None for line in log]
    with_lists = [b'"roles"' in line or b'"invited_by"' in line for line in log]
    assert all(t or w for t, w in zip(taken, with_lists))
    assert sum(taken) > 0.95 * len(log)
    assert all(_values(scan(line)) == _values(msgspec_record_decoder(record)(line))
               for line, t in zip(log, taken) if t)


def test_a_record_type_with_more_fields_than_the_scan_holds_is_left_to_msgspec():
    record = record_fields({f"f{i:02}": "text" for i in range(70)})
    decode = record_decoder(record)
    assert decode.__self__.scan(PLAIN) is None
    assert _values(decode(PLAIN)) == _values(msgspec_record_decoder(record)(PLAIN))
    with pytest.raises(msgspec.ValidationError):
        decode(PLAIN.replace(b'"message"', b'""'))


def test_a_members_name_is_the_str_made_for_it_before_and_always_its_own_name():
    first, again = SCAN(PLAIN), SCAN(PLAIN.replace(b'"e1"', b'"e2"'))
    assert first.user == again.user == "u1593" and first.user is again.user
    # 10 000 names of 1 to 5 digits share 4 096 slots: names of one length and of another meet in
    # a slot, and each line still gets its own name. Longer names and names past ASCII are made anew.
    names = [f"u{i}" for i in range(10_000)] + ["x" * 33, "张三", "u" * 32]
    lines = [PLAIN.replace(b'"u1593"', json.dumps(name, ensure_ascii=False).encode()) for name in names]
    for _ in range(2):
        assert [SCAN(line).user for line in lines] == names
    assert SCAN(lines[-1]).user is SCAN(lines[-1]).user            # 32 characters: kept
    assert SCAN(lines[-3]).user is not SCAN(lines[-3]).user        # 33: made anew


def test_channels_and_other_names_are_kept_as_members_are_and_texts_are_not():
    fields = record_fields({"channel": "text", "target_user": "text", "community": "text", "text": "text"})
    scan = record_decoder(fields).__self__.scan
    line = (b'{"type":"reaction","ts":"2026-11-02T00:00:25.301Z","user":"u1","id":"e1","channel":"general",'
            b'"target_user":"u2","community":"c1","text":"hi"}')
    first, again = scan(line), scan(line.replace(b'"e1"', b'"e2"'))
    assert _values(first) == _values(msgspec_record_decoder(fields)(line))
    for name in ("channel", "target_user", "community"):
        assert first.get(name) is again.get(name)
    assert first.get("text") == again.get("text") == "hi" and first.get("text") is not again.get("text")
    # One slot table for all of them: a channel named as a member is that member's str, and an
    # empty channel name (which a member's may not be) is kept too.
    named = scan(line.replace(b'"general"', b'"u1"'))
    assert named.get("channel") is named.user
    assert scan(line.replace(b'"general"', b'""')).get("channel") == ""


def test_keys_predicted_from_the_line_before_decide_as_keys_read_afresh():
    # A fresh decoder reads lines whose keys change place, name, spacing and bytes from one line to
    # the next; each record and time must be msgspec's and event_time's, whatever the last line was.
    decode_timed = timed_record_decoder(record_fields({"text": "text", "amount": "number", "pinned": "bool"}))
    msgspec_decode = msgspec_record_decoder(record_fields({"text": "text", "amount": "number", "pinned": "bool"}))
    base = [b'"type":"message"', b'"ts":"2026-11-02T00:00:25.301Z"', b'"user":"u1"', b'"text":"hi"']
    variants = [
        base, base[::-1], base[:2] + [b'"other":1'] + base[2:], base[:3] + [b'"text2":"x"'],
        base[:3] + [b'"text" : "hi"'], base[:3] + [b'"\xff":"x"'], base[:3] + [b'"\xe5\xa5\xbd":"x"'],
        base[:3] + [b'"\xff":"x"'], base[:3] + [b'"amount":3', b'"pinned":true'],
        base[:3] + [b'"pinned":true', b'"amount":3'], base[:3] + [b'"amount":3', b'"amount":4'],
    ]
    lines = [b"{" + b",".join(parts) + b"}" for parts in variants]
    for line in lines + lines[::-1] + lines:
        record, ts = decode_timed(line)
        assert _values(record) == _values(msgspec_decode(line))
        assert ts == event_time(record.ts, line)
    # The same key no rule reads, not UTF-8, twice: the second line is not taken for valid either.
    bad = b'{"\xff":"x","type":"message","ts":"2026-11-02T00:00:25.301Z","user":"u1"}'
    assert decode_timed(bad)[1] is None and decode_timed(bad)[1] is None


def test_a_predicted_key_is_taken_only_with_every_byte_the_same():
    # A key is compared with the one the last line had at its place as words (the first and last
    # four or eight bytes): a key of the same length that differs in any one byte is another key.
    fields = record_fields({"text": "text", "channel": "text", "community": "text", "target_user": "text"})
    decode_timed, msgspec_decode = timed_record_decoder(fields), msgspec_record_decoder(fields)
    base = [b'"type":"message"', b'"ts":"2026-11-02T00:00:25.301Z"', b'"user":"u1"', b'"id":"e1"',
            b'"text":"hi"', b'"channel":"c"', b'"community":"g"', b'"target_user":"t"']
    for k, part in enumerate(base):
        name_end = part.index(b'":')
        for i in range(1, name_end):
            other = part[:i] + (b"X" if part[i:i + 1] != b"X" else b"Y") + part[i + 1:]
            for line in (b"{" + b",".join(base) + b"}", b"{" + b",".join(base[:k] + [other] + base[k + 1:]) + b"}"):
                try:
                    expected = _values(msgspec_decode(line))
                except msgspec.ValidationError:            # a required field renamed: msgspec's error
                    with pytest.raises(msgspec.ValidationError):
                        decode_timed(line)
                    continue
                assert _values(decode_timed(line)[0]) == expected, (part, i)


def test_a_pair_decode_timed_handed_out_never_changes_under_its_holder():
    # decode_timed fills its last pair again only when no one else holds it (the record loop
    # unpacks it at once); a caller that keeps one keeps what it was given.
    decode_timed = timed_record_decoder(RECORD)
    other = PLAIN.replace(b'"u1593"', b'"u7"').replace(b"25.301Z", b"26.301Z")
    kept = decode_timed(PLAIN)
    later = decode_timed(other)
    assert kept[0].user == "u1593" and kept[1] == 1793577625301000
    assert later[0].user == "u7" and later[1] == 1793577626301000
    del kept, later
    for line, user in [(PLAIN, "u1593"), (other, "u7"), (PLAIN, "u1593")]:
        record, ts = decode_timed(line)
        assert record.user == user and ts == event_time(record.ts, line)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(lines(), st.booleans()), min_size=1, max_size=12))
def test_a_record_decode_timed_fills_again_is_the_lines_and_one_kept_never_changes(batch):
    """decode_timed fills the record it handed out last again when only its pair holds it (the
    record loop lets go of `ev` before the next line). Each record must still be msgspec's for its
    line when handed out, and one a caller keeps (True) must stay what it was, whatever follows:
    lines the scan takes, lines msgspec decodes, lines neither takes."""
    decode_timed = timed_record_decoder(RECORD)
    kept = []
    for line, keep in batch:
        outcome = _timed_outcome(decode_timed, line)
        assert outcome == _timed_outcome(lambda line: _timed(line), line)
        if keep and outcome[0] == "record":
            record, _ = decode_timed(line)          # decoded again, and this one is held
            kept.append((record, _values(MSGSPEC(line))))
    for record, values in kept:
        assert _values(record) == values


def test_a_record_let_go_is_filled_again_and_one_held_is_not():
    decode_timed = timed_record_decoder(RECORD)
    other = PLAIN.replace(b'"u1593"', b'"u7"').replace(b'"hi"', b'"\xe4\xbd\xa0\xe5\xa5\xbd"')
    first, _ = decode_timed(PLAIN)
    address = id(first)
    del first                                        # only the decoder's pair holds it now
    second, _ = decode_timed(other)
    assert id(second) == address                     # the same record, filled with the next line
    assert _values(second) == _values(MSGSPEC(other))
    third, _ = decode_timed(PLAIN)                   # `second` is held: a new record
    assert id(third) != id(second)
    assert _values(second) == _values(MSGSPEC(other)) and _values(third) == _values(MSGSPEC(PLAIN))

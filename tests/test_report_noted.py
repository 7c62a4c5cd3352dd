"""The record decoder's notes of where a line's type, user, channel and id lay (events/_noted.h),
and the report's counts read from them (report/_observe.c: Observing given `noted`).

Oracles: the bytes each value was written as, kept while the line is built (what a note must
say), msgspec's record (a decoder that notes makes the records it always made), and the report's
definition, counts.PythonEventCounts, over the same lines."""
from __future__ import annotations

import json

import orjson
from hypothesis import given, settings, strategies as st, target

from benchmarks.loggen import generate
from policyengine.events.clock import DUE, LATE, Clock
from policyengine.events.records import msgspec_record_decoder, record_decoder, record_fields, timed_record_decoder
from policyengine.replay import observed_timed
from policyengine.report.collect import ReportData
from policyengine.report.counts import PythonEventCounts
from tests.test_native_records import _values
from tests.test_report_counts import _counts, _json, _outcome

ABSENT, TEXT, OTHER, ESCAPED = 0, 1, 2, 3
NOTED = ("type", "user", "channel", "id")
# The reference policies read no channel (noted as a field of its own); the pack reads it.
WITHOUT_CHANNEL = record_fields({"text": "text"})
WITH_CHANNEL = record_fields({"text": "text", "channel": "text", "roles": "list"})

_names = st.text(alphabet="abu1张\"\\/\n", min_size=1, max_size=5)
_right = {"type": st.sampled_from(["message", "join", "reaction", "Message"]), "user": _names,
          "channel": st.one_of(_names, st.sampled_from(["general", "闲聊"]), st.none()),
          "id": st.one_of(_names, st.none()), "ts": st.just("2026-11-02T00:00:25.301Z"),
          "text": st.text(max_size=6), "roles": st.lists(st.sampled_from(["mod", "vip"]), max_size=2),
          "meta": _json}


@st.composite
def written(draw) -> tuple[bytes, dict[str, bytes]]:
    """A line, and each key's value as the line last writes it (the decoders keep the last)."""
    extra = draw(st.lists(st.sampled_from(["channel", "id", "text", "roles", "meta", "channels", "typ"]), max_size=5))
    keys = draw(st.permutations(["type", "user", "ts"] + extra))        # channel may come twice
    last, parts = {}, []
    for key in keys:
        value = draw(_right[key] if key in _right and draw(st.integers(0, 5)) else _json)
        raw = json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
        last[key] = raw
        space = draw(st.sampled_from([b"", b" "]))
        parts.append(json.dumps(key).encode() + space + b":" + space + raw)
    return b"{" + b",".join(parts) + b"}", last


def _observing(record):
    """The report's event counts, and the record loop's decoder observing into them from its
    notes, wired as replay wires them for `eval --report` (replay.observed_timed)."""
    data = ReportData()
    decode_timed = timed_record_decoder(record, noting=True)
    return decode_timed, data.seen, observed_timed(decode_timed, data)


def _at_hour(line: bytes, hour: int) -> bytes:
    """A `written` line's time moved to 2026-11-02 at hour + 3."""
    return line.replace(b'"2026-11-02T00:00:25.301Z"', b'"2026-11-02T0%d:00:25.301Z"' % (hour + 3))


def _expected_notes(last: dict[str, bytes]) -> tuple:
    notes = []
    for key in NOTED:
        raw = last.get(key)
        if raw is None:
            notes.append((ABSENT, b""))
        elif raw.startswith(b'"'):
            notes.append((ESCAPED if b"\\" in raw[1:-1] else TEXT, raw[1:-1]))
        else:
            notes.append((OTHER, raw))
    return tuple(notes)


@settings(max_examples=1500, deadline=None)
@given(written(), st.sampled_from([WITHOUT_CHANNEL, WITH_CHANNEL]))
def test_a_noting_decoder_notes_each_value_as_the_line_writes_it_and_decodes_as_msgspec(line_and_last, record):
    line, last = line_and_last
    decode_timed = timed_record_decoder(record, noting=True)
    decoder = decode_timed.__self__
    expected = _outcome(lambda: _values(msgspec_record_decoder(record)(line)))
    outcome = _outcome(lambda: _values(decode_timed(line)[0]))
    assert outcome == expected                           # noting changes no record and no error
    notes = decoder.last_noted()
    if decoder.scan(line) is None:                       # msgspec's line, or its error: nothing noted of it
        assert notes is None
    else:
        assert notes == _expected_notes(last)


def test_a_line_msgspec_decodes_leaves_no_note_of_the_line_before():
    decode_timed = timed_record_decoder(WITHOUT_CHANNEL, noting=True)
    decoder = decode_timed.__self__
    decode_timed(b'{"type":"message","user":"u1","ts":"2026-11-02T00:00:25Z","channel":"general","id":"e1"}')
    assert decoder.last_noted() == ((TEXT, b"message"), (TEXT, b"u1"), (TEXT, b"general"), (TEXT, b"e1"))
    # A number with an exponent where no rule reads: the scan leaves the line to msgspec.
    decode_timed(b'{"type":"join","user":"u2","ts":"2026-11-02T00:00:26Z","x":1e5}')
    assert decoder.last_noted() is None
    # A decoder not made to note says nothing at all, and is the one `eval` without --report uses
    # for both of its paths (the noting one is another: its layout holds the channel).
    plain = timed_record_decoder(WITHOUT_CHANNEL).__self__
    assert plain.noted() is None and plain.last_noted() is None
    assert plain is record_decoder(WITHOUT_CHANNEL).__self__ and plain is not decoder


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(written(), st.integers(-3, 3)), min_size=1, max_size=8),
       st.sampled_from([WITHOUT_CHANNEL, WITH_CHANNEL]))
def test_counts_read_from_the_notes_are_the_definitions_of_the_same_lines(observed, record):
    # Each line timed at a clock of its own, an hour apart, so that the hour maps differ.
    decode_timed, c, observing = _observing(record)
    python = PythonEventCounts()
    for (line, _), hour in observed:
        line = _at_hour(line, hour)
        clock = Clock()
        outcome = _outcome(lambda: observing(line, clock))
        if isinstance(outcome, type):                    # msgspec's error: replay judges the line elsewhere
            assert outcome is _outcome(lambda: decode_timed(line, Clock()))
            continue
        record, ts = outcome
        if ts is None:                                   # a time Python reads: observed where replay evaluates it
            assert _counts(c) == _counts(python)
            continue
        python.observe_line(line, ts)
        assert _counts(c) == _counts(python)
    for (line, _), _hour in observed:
        event = _outcome(lambda: orjson.loads(line))
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            for user in (event.get("user"), None, "another"):
                assert c.channel(user, event["id"]) == python.channel(user, event["id"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(written(), st.integers(-3, 3)), min_size=2, max_size=8))
def test_late_lines_are_counted_from_the_notes_at_their_own_time(observed):
    # One clock for all: a line earlier than one before it is late (the record loop evaluates it
    # all the same, at its own time), and is observed then, from the notes too.
    _, c, observing = _observing(WITHOUT_CHANNEL)
    python = PythonEventCounts()
    clock, late = Clock(), 0
    for (line, _), hour in observed:
        line = _at_hour(line, hour)
        outcome = _outcome(lambda: observing(line, clock))
        if isinstance(outcome, type):
            continue
        _, ts = outcome
        if ts is not None:
            python.observe_line(line, ts)
        elif clock.stop in (LATE, DUE):
            late += clock.stop == LATE
            python.observe_line(line, clock.ts)
        assert _counts(c) == _counts(python)
    target(float(late))


def test_every_line_of_the_benchmark_log_is_noted():
    # Otherwise `eval --report` would scan each line twice after all.
    decode_timed = timed_record_decoder(WITHOUT_CHANNEL, noting=True)
    decoder = decode_timed.__self__
    for event in generate(3000, seed=5):
        line = orjson.dumps(event)
        decode_timed(line)
        notes = decoder.last_noted()
        assert notes is not None
        assert notes[0] == (TEXT, event["type"].encode()) and notes[1] == (TEXT, event["user"].encode())
        channel = event.get("channel")
        assert notes[2] == ((ABSENT, b"") if "channel" not in event else
                            (TEXT, channel.encode()) if isinstance(channel, str) else (OTHER, orjson.dumps(channel)))


def test_counted_by_hand_from_notes():
    # Three lines read through the notes; what each gives, by hand.
    _, c, observing = _observing(WITHOUT_CHANNEL)
    lines = [b'{"type":"message","user":"u1","ts":"1970-01-01T00:00:00Z","id":"e1","channel":"a","channel":"b"}',
             b'{"type":"join","user":"u2","ts":"1970-01-01T01:00:00Z","id":"e2"}',
             b'{"type":"message","user":"\\u5f20","ts":"1970-01-01T01:59:59Z","id":"e3","channel":"c\\"d"}']
    for line in lines:
        assert observing(line, Clock())[1] is not None
    assert c.events == 3
    assert dict(c.messages) == {0: 1, 1: 1} and dict(c.joins) == {1: 1}
    assert {h: set(m) for h, m in c.active.items()} == {0: {"u1"}, 1: {"张"}}
    # the last channel; an escaped one
    assert [c.channel(u, e) for u, e in (("u1", "e1"), ("u2", "e2"), ("张", "e3"))] == ["b", None, 'c"d']


def test_a_late_line_is_counted_from_the_notes_in_its_own_hour():
    _, c, observing = _observing(WITHOUT_CHANNEL)
    clock = Clock()
    assert observing(b'{"type":"message","user":"u1","ts":"1970-01-01T02:00:00Z","id":"e1"}', clock)[1] is not None
    # An hour earlier than the line before: late, no time given back, observed at its own time.
    assert observing(b'{"type":"message","user":"u2","ts":"1970-01-01T01:00:00Z","id":"e2","channel":"x"}',
                     clock)[1] is None
    assert clock.stop == LATE
    assert c.events == 2 and dict(c.messages) == {2: 1, 1: 1}
    assert {h: set(m) for h, m in c.active.items()} == {2: {"u1"}, 1: {"u2"}}
    assert c.channel("u2", "e2") == "x"

"""The record loop's clock (events/clock.py, events/_clock.h): decode_timed compares each event's
time with the watermark and the next due time in C. The oracle is the definition — PythonClock
around msgspec's record and event_time (records.python_timed_decoder) — and cases worked by hand."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from policyengine.events.clock import ASK, DUE, ITEM, LATE, NO_TIMER, TAKEN, Clock, PythonClock, taking
from policyengine.events.records import (RECORD_ERRORS, msgspec_record_decoder, python_timed_decoder, record_fields,
                                         timed_record_decoder)

RECORD = record_fields({"text": "text"})
TIMED = timed_record_decoder(RECORD)
DEFINITION = python_timed_decoder(msgspec_record_decoder(RECORD))
assert Clock is not PythonClock, "events/_records.c was not built"

BASE = 1_793_577_600_000_000           # 2026-11-02T00:00:00Z in µs


def _line(us: int) -> bytes:
    seconds, micro = divmod(us - BASE, 1_000_000)
    return (b'{"type":"message","ts":"2026-11-02T%02d:%02d:%02d.%06dZ","user":"u","text":"x"}'
            % (seconds // 3600, seconds // 60 % 60, seconds % 60, micro))


def _step(decode_timed, clock, line):
    record, ts = decode_timed(line, clock)
    return ts, clock.stop if ts is None else TAKEN, clock.ts if ts is None else None, clock.watermark


def test_an_event_is_taken_late_or_after_timers_by_hand():
    for make, decode_timed in ((Clock, TIMED), (PythonClock, DEFINITION)):
        clock = make()
        assert clock.watermark is None
        assert _step(decode_timed, clock, _line(BASE + 5)) == (BASE + 5, TAKEN, None, BASE + 5)
        assert _step(decode_timed, clock, _line(BASE + 5)) == (BASE + 5, TAKEN, None, BASE + 5)   # the same time
        assert _step(decode_timed, clock, _line(BASE + 4)) == (None, LATE, BASE + 4, BASE + 5)    # late: not moved
        clock.due = BASE + 9
        assert _step(decode_timed, clock, _line(BASE + 8)) == (BASE + 8, TAKEN, None, BASE + 8)
        assert _step(decode_timed, clock, _line(BASE + 9)) == (None, DUE, BASE + 9, BASE + 9)     # due at it: moved
        clock.due = NO_TIMER
        assert _step(decode_timed, clock, _line(BASE + 10)) == (BASE + 10, TAKEN, None, BASE + 10)
        # a time Python must read: the clock does not move
        record, ts = decode_timed(b'{"type":"message","ts":1793577700,"user":"u","text":"x"}', clock)
        assert ts is None and clock.stop == ASK and clock.watermark == BASE + 10
        # a decode without the clock: as it was, the clock untouched
        assert TIMED(_line(BASE + 1))[1] == BASE + 1 and clock.watermark == BASE + 10


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60_000_000), st.lists(st.tuples(st.integers(0, 60_000_000), st.one_of(
    st.none(), st.integers(0, 60_000_000), st.just(NO_TIMER))), max_size=40))
def test_the_c_clock_decides_as_the_definition(start, steps):
    c, python = Clock(), PythonClock()
    for clock in (c, python):
        clock.watermark = BASE + start
    for us, due in steps:
        for clock in (c, python):
            if due is not None:
                clock.due = due if due == NO_TIMER else BASE + due
        assert _step(TIMED, c, _line(BASE + us)) == _step(DEFINITION, python, _line(BASE + us))


def test_what_the_clock_holds_it_holds_as_the_loop_compares_it():
    clock = Clock()
    assert clock.due >= 2 ** 63 - 1                     # no timer: later than any event
    clock.due = NO_TIMER                                 # past 64 bits: the nearest not later
    assert clock.due == 2 ** 63 - 1
    clock.due = -(2 ** 70)
    assert clock.due == -(2 ** 63)
    clock.due = 10.5                                     # a float: not later than it
    assert clock.due == 10
    clock.due = float("nan")                             # compares with nothing: always due
    assert clock.due == -(2 ** 63)
    clock.watermark = 10.5                               # an int time is before 10.5 exactly when before 11
    assert clock.watermark == 11
    clock.watermark = None
    assert clock.watermark is None
    for bad in ("10", [1]):
        with pytest.raises(TypeError):
            clock.due = bad
        with pytest.raises(TypeError):
            clock.watermark = bad
    with pytest.raises(TypeError):
        TIMED(_line(BASE), "not a clock")


def test_a_routed_item_that_is_not_a_line_is_no_record_and_no_time():
    # A worker's loop hands every routed item to decode_timed (compiler/loop.py: RUN_SHARED): an
    # other share's time or a (line,) every worker judges comes back as no record and no time, the
    # clock's stop ITEM, the clock not moved; a line and an over-long one (None) are decoded as ever.
    for make, decode_timed in ((Clock, TIMED), (PythonClock, DEFINITION)):
        clock = make()
        assert decode_timed(_line(BASE + 5), clock)[1] == BASE + 5
        for item in (BASE + 9, (_line(BASE + 9),), (None,)):
            assert decode_timed(item, clock) == (None, None)
            assert (clock.stop, clock.watermark) == (ITEM, BASE + 5)
        with pytest.raises((*RECORD_ERRORS, TypeError)):
            decode_timed(None, clock)                # refused by msgspec, as before (replay words it)
        assert _step(decode_timed, clock, _line(BASE + 6)) == (BASE + 6, TAKEN, None, BASE + 6)


def test_taking_takes_other_shares_times_the_clock_takes_cleanly_by_hand():
    # A worker's items (events/routing.py): its own lines (bytes), other shares' times (ints),
    # lines every worker judges ((line,)). Worked by hand with the watermark at 10, due at 20.
    for make in (Clock, PythonClock):
        clock = make()
        clock.watermark, clock.due = BASE + 10, BASE + 20
        items = [BASE + 10, BASE + 12, b"own", BASE + 11, BASE + 15, (b"?",), BASE + 19, BASE + 20,
                 BASE + 19, BASE + 19]
        took = taking(clock, items)
        handed = []
        for item in took:
            handed.append((item, took.taken, clock.watermark))
        assert handed == [
            (b"own", 3, BASE + 12),          # 10 (not late: equal) and 12 taken, and the own line itself
            (BASE + 11, 0, BASE + 12),       # late: handed on, the clock not moved
            ((b"?",), 1, BASE + 15),         # 15 taken
            (BASE + 20, 1, BASE + 19),       # 19 taken; 20 has a timer due by it: handed on
        ]
        assert took.taken == 2 and clock.watermark == BASE + 19       # the two 19s after it, taken
        assert list(taking(clock, [])) == []


def test_taking_with_no_event_yet_and_no_timer_takes_every_time():
    for make in (Clock, PythonClock):
        clock = make()
        took = taking(clock, [BASE + 3, BASE + 1])
        assert [(item, took.taken) for item in took] == [(BASE + 1, 1)] and clock.watermark == BASE + 3


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 100), st.one_of(st.none(), st.integers(0, 100)),
       st.lists(st.one_of(st.integers(-5, 110), st.just(b"own"), st.just((b"?",)),
                          st.sampled_from([1 << 63, -(1 << 63) - 1, -1])), max_size=30))
def test_taking_with_the_c_clock_hands_on_and_counts_as_with_the_definition(watermark, due, offsets):
    items = [item if type(item) is not int or abs(item) > 200 else BASE + item for item in offsets]
    seen = []
    for make in (Clock, PythonClock):
        clock = make()
        clock.watermark = BASE + watermark
        if due is not None:
            clock.due = BASE + due
        took = taking(clock, items)
        seen.append(([(item, took.taken) for item in took], took.taken, clock.watermark))
    assert seen[0] == seen[1]
    # and the count is every int not handed on, and every own line (bytes) with it
    handed, after, _ = seen[0]
    assert sum(taken for _, taken in handed) + after + sum(type(item) is not bytes for item, _ in handed) == len(items)

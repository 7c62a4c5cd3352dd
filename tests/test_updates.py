"""A handler's every-event aggregate updates in one call (runtime/updates.py, runtime/_windows.c's
Updates) against the oracle of their Python definitions called one by one: the same reads, the
same state, and a failing step reported and read as FAILED while the others still run."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.compiler import compile_program
from policyengine.loader import load_paths, load_text
from policyengine.runtime import _windows, aggregates, helpers, incentives, updates
from policyengine.runtime._columns import Column, MemberIndex
from tests.test_windows import _state

IMPLEMENTATIONS = [_windows.Updates, updates.PythonUpdates]
DAY = 86_400_000_000


def _one_by_one(tables: dict, ts: int, user, text, day: int) -> list:
    """The oracle: each update through its Python definition, as the generated code made them."""
    return [incentives.python_active_days_add_read(tables["days"], user, day, 14),
            helpers.python_add_count(tables["burst"], user, ts, 10_000_000),
            helpers.python_count_up(tables["all"], user),
            aggregates.PYTHON_WINDOWS["add_read"](tables["copies"], text, "distinct", ts, user, 600_000_000),
            aggregates.PYTHON_WINDOWS["add_read"](tables["repeats"], user, "repeats", ts, text, 60_000_000)]


def _steps(tables: dict) -> tuple:
    # The community pack's message handler: call arguments are (event, ts, day, user, text).
    return (("active_days", tables["days"], 3, 2, 14, 0), ("count_window", tables["burst"], 3, -1, 10_000_000, 2),
            ("count", tables["all"], 3, -1, None, 3), ("distinct", tables["copies"], 4, 3, 600_000_000, 8),
            ("repeats", tables["repeats"], 3, 4, 60_000_000, 10))


def _tables(index: MemberIndex | None = None) -> dict:
    # A member-keyed table is a column of one member index where a store has one (runtime/_columns.c).
    member = (lambda: Column(index)) if index is not None else dict
    return {"days": member(), "burst": member(), "all": member(), "copies": {}, "repeats": member()}


def _plain(tables: dict) -> dict:
    return {name: _state(dict(table.items())) if name in ("copies", "repeats") else
            {k: list(v) if not isinstance(v, int) else v for k, v in table.items()} for name, table in tables.items()}


_EVENTS = st.lists(st.tuples(st.integers(0, 40_000_000), st.sampled_from(["u1", "u2", "张三"]),
                             st.sampled_from(["hi", "加微信", "", None]), st.integers(0, 2)), max_size=60)


def _by_calendar(steps: tuple) -> tuple:
    """The steps with active days' day computed by the step from ts, as the generated code has it
    (the calendar's `day`), where the call handed it in."""
    return tuple((op, table, key, (lambda ts: ts // DAY) if op == "active_days" else value, width, index)
                 for op, table, key, value, width, index in steps)


@settings(max_examples=300, deadline=None)
@given(_EVENTS, st.booleans(), st.booleans())
def test_the_updates_read_and_keep_what_their_steps_one_by_one_do(events, in_columns, by_calendar):
    oracle = _tables()
    sides = [(impl, _tables(MemberIndex() if in_columns else None)) for impl in IMPLEMENTATIONS]
    made = _by_calendar if by_calendar else (lambda steps: steps)
    batches = [(impl(made(_steps(tables)), _never_fails, updates.FAILED), tables) for impl, tables in sides]
    ts = 1_767_225_600_000_000
    for gap, user, text, day_step in events:
        ts += gap + day_step * DAY
        day = ts // DAY
        expected = _one_by_one(oracle, ts, user, text, day)
        for batch, tables in batches:
            assert list(batch({"id": "e"}, ts, day, user, text)) == expected
    for _, tables in batches:
        assert _plain(tables) == _plain(oracle)


def _never_fails(index, exc, event):
    raise AssertionError(f"step {index} failed: {exc!r}")


class _Unhashable:
    __hash__ = None


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_failing_step_is_reported_reads_failed_and_the_others_still_run(impl):
    reported = []
    tables = {"a": {}, "b": {}, "c": {}}
    # Step 1's key (position 3) cannot be hashed: its table's lookup raises TypeError.
    steps = (("count", tables["a"], 2, -1, None, 5), ("count", tables["b"], 3, -1, None, 6),
             ("count_window", tables["c"], 2, -1, 10, 7))
    batch = impl(steps, lambda *report: reported.append(report), updates.FAILED)
    event, bad = {"id": "e1"}, _Unhashable()
    reads = batch(event, 100, "u", bad)
    assert reads[0] == 1 and reads[1] is updates.FAILED and reads[2] == 1
    assert len(reported) == 1
    index, exc, who = reported[0]
    assert index == 6 and isinstance(exc, TypeError) and who is event
    assert tables == {"a": {"u": 1}, "b": {}, "c": {"u": tables["c"]["u"]}} and list(tables["c"]["u"]) == [100]
    # A report that raises stops the call: nothing swallows it.
    failing = impl(steps, _never_fails, updates.FAILED)
    with pytest.raises(AssertionError, match="step 6 failed"):
        failing(event, 101, "u", bad)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_calendar_that_fails_is_its_steps_failure(impl):
    reported = []

    def broken(ts):
        raise OverflowError("no such day")
    steps = (("active_days", {}, 2, broken, 14, 4), ("count", {}, 2, -1, None, 5))
    batch = impl(steps, lambda *report: reported.append(report), updates.FAILED)
    assert batch({"id": "e1"}, 100, "u") == (updates.FAILED, 1)          # takes (event, ts, user): no day
    assert [(index, type(exc)) for index, exc, _ in reported] == [(4, OverflowError)]
    with pytest.raises(TypeError):
        impl((("count", {}, 2, broken, None, 5),), _never_fails, updates.FAILED)   # only active days takes one


class _Interrupting:
    def __hash__(self):
        raise KeyboardInterrupt


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_what_is_not_an_exception_goes_through_unreported(impl):
    reported = []
    batch = impl((("count", {}, 2, -1, None, 0),), lambda *r: reported.append(r), updates.FAILED)
    with pytest.raises(KeyboardInterrupt):
        batch({}, 1, _Interrupting())
    assert reported == []


@pytest.mark.parametrize("use", [lambda x: x >= 3, lambda x: x == 3, lambda x: 3 < x, lambda x: x * 6.0,
                                 lambda x: 2 + x, lambda x: str(x), lambda x: f"{x}", lambda x: bool(x),
                                 lambda x: hash(x), lambda x: x in [1, 2], lambda x: x != 0, lambda x: -x])
def test_every_use_of_a_failed_read_raises(use):
    with pytest.raises(ValueError, match="R0002"):
        use(updates.FAILED)
    assert repr(updates.FAILED) == "FAILED"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("steps, error", [
    ((("tally", {}, 2, -1, None, 0),), ValueError),              # no such op
    ((("count", {}, 1, -1, None, 0),), ValueError),              # the key is ts
    ((("count", {}, 2, 3, None, 0),), ValueError),               # a value for an op that takes none
    ((("repeats", {}, 2, -1, 5, 0),), ValueError),               # no value for one that takes it
    ((("count", {}, 2, -1, None),), TypeError),                  # five items
    (("count",), TypeError),                                     # not a tuple
])
def test_steps_the_updates_cannot_make_are_refused(impl, steps, error):
    with pytest.raises(error):
        impl(steps, _never_fails, updates.FAILED)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_call_takes_as_many_arguments_as_its_steps_read(impl):
    batch = impl((("count", {}, 2, -1, None, 0), ("distinct", {}, 2, 4, 10, 1)), _never_fails, updates.FAILED)
    with pytest.raises(TypeError):
        batch({}, 1, "u", "x")
    assert batch({}, 1, "u", "x", "v") == (1, 1)


def test_reads_handed_out_never_change_under_their_holder():
    """The C type fills the tuple it handed out last again when only it holds it (the handler
    unpacks it at once); a caller that keeps one keeps what it was given."""
    batch = _windows.Updates((("count", {}, 2, -1, None, 0),), _never_fails, updates.FAILED)
    kept = batch({}, 1, "u")
    assert batch({}, 2, "u") == (2,) and kept == (1,)
    assert batch({}, 3, "u") == (3,) and batch({}, 4, "u") == (4,) and kept == (1,)


def test_the_c_type_is_the_one_in_use():
    assert updates.Updates is _windows.Updates


def test_the_packs_message_handler_makes_its_five_updates_in_one_call():
    source = compile_program(load_paths(["policies/community"]).program).source
    # One Updates, called by the dict handler, the record handler and the two record loops.
    assert source.count("= Updates(") == 1 and source.count("win0, win2, cnt3, win8, win10, = U0(") == 4
    assert "add_read(A" not in source and "count_up(A4" not in source and "add_count(A3" not in source
    # An update whose key may be missing keeps its own call, under its test (the referral count by `inviter`).
    assert source.count("count_up(A9, f0)") == 4
    # A handler with a single such update keeps its call (a join's raid count).
    assert "win1 = add_count(A1, k, ts, 3600000000)" in source


def test_a_handler_with_one_every_event_update_is_not_batched():
    policy = 'rule r { on message when count(message by user within 1m) >= 3 do flag("x") }\n'
    source = compile_program(load_text([("one.policy", policy)]).program).source
    assert "Updates(" not in source.replace("Updates = _agg.Updates", "") and "add_count(" in source


def _pack_output(log: str) -> bytes:
    import io

    from policyengine.cli.writers import jsonl_writer
    from policyengine.events.decode import EventDecoder
    from policyengine.logs import open_log
    from policyengine.replay import ReplayStats, replay
    from policyengine.runtime.evaluator import Evaluator
    compiled = compile_program(load_paths(["policies/community"]).program)
    out, reported = io.BytesIO(), []
    replay(open_log(log), Evaluator(compiled, None), EventDecoder(compiled.plan.field_types), jsonl_writer(out),
           reported.append, ReplayStats())
    assert reported == []
    return out.getvalue()


def test_the_pack_decides_the_same_with_the_python_definition_in_the_loop(tmp_path, monkeypatch):
    """The generated record loop with PythonUpdates in place of the C type (as where it was not
    built): the same decisions, byte for byte, on 5 000 events of the benchmark log."""
    import orjson

    from benchmarks.loggen import generate
    from policyengine.compiler import program
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in generate(5000, seed=3)))
    in_c = _pack_output(str(log))
    monkeypatch.setattr(program._AggregateHelpers, "Updates", staticmethod(updates.PythonUpdates))
    in_python = _pack_output(str(log))
    assert in_python == in_c and in_c.count(b"\n") > 1000

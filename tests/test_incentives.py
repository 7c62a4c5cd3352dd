"""Incentive properties beyond single cases: seeded amounts, period boundaries, time zones."""
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.engine import Engine
from policyengine.runtime.periods import Calendar


def _xp(engine, ids):
    return [engine.process({"type": "message", "ts": i, "user": "u", "id": mid, "text": "x"})[0]["points"]
            for i, mid in enumerate(ids)]


def test_random_amounts_stay_in_range_and_replay_identically():
    text = 'rule xp { on message do award_points(random(15, 25), "xp") }'
    ids = [f"m{i}" for i in range(300)]
    first, second = _xp(Engine.from_text(text), ids), _xp(Engine.from_text(text), ids)
    assert first == second                                  # seeded by the event id: same on every replay
    assert set(first) == set(range(15, 26))                 # every amount from 15 to 25 occurs in 300 draws
    other = _xp(Engine.from_text(text), [f"x{i}" for i in range(300)])
    assert other != first                                   # other ids, other draws


def test_calendar_days_weeks_and_months_follow_the_zone():
    shanghai = Calendar("Asia/Shanghai")
    def us(text):
        return int(datetime.fromisoformat(text).timestamp() * 1_000_000)
    # 15:59:59 UTC on 1 Nov is 23:59:59 in Shanghai; 16:00 UTC is the next local day.
    assert shanghai.day(us("2026-11-01T16:00:00+00:00")) - shanghai.day(us("2026-11-01T15:59:59+00:00")) == 1
    # The last µs of a local day, then the first of the next: the kept stretch ends where the day does.
    edge = us("2026-11-02T16:00:00+00:00")
    fresh, python = Calendar("Asia/Shanghai"), Calendar("Asia/Shanghai")
    for day in (fresh.day, lambda us: Calendar.day(python, us)):         # in C, then the Python definition
        assert day(edge - 1) + 1 == day(edge) == day(edge + 1)
    # 2026-11-30 is a Monday; the next week starts Monday 7 Dec 00:00 local = 6 Dec 16:00 UTC.
    assert shanghai.start_of_next("week", us("2026-11-30T12:00:00+00:00")) == us("2026-12-06T16:00:00+00:00")
    assert shanghai.start_of_next("month", us("2026-12-31T15:00:00+00:00")) == us("2026-12-31T16:00:00+00:00")
    # A zone with daylight saving time: Berlin's day after the switch to summer time is 23 hours.
    berlin = Calendar("Europe/Berlin")
    start = berlin.start_of_next("day", us("2026-03-28T12:00:00+00:00"))
    assert start == us("2026-03-28T23:00:00+00:00")
    assert berlin.start_of_next("day", start) - start == 23 * 3_600_000_000


def _local_day(zone, us):
    """The oracle: zoneinfo's own conversion of the instant, as days since 1970-01-01."""
    local = (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).astimezone(zone)
    return (local.date() - date(1970, 1, 1)).days


# Zones with UTC instants of their daylight-saving switches or local midnights off the whole hour.
_SWITCHES = [("Europe/Berlin", "2026-03-29T01:00:00+00:00"), ("Europe/Berlin", "2026-10-25T01:00:00+00:00"),
             ("America/New_York", "2026-03-08T07:00:00+00:00"), ("America/New_York", "2026-11-01T06:00:00+00:00"),
             ("Australia/Adelaide", "2026-04-04T16:30:00+00:00"),      # +10:30 → +9:30, and local midnight
             ("Australia/Adelaide", "2026-10-03T13:30:00+00:00"),
             ("Asia/Kolkata", "2026-11-01T18:30:00+00:00"), ("Asia/Shanghai", "2026-11-01T16:00:00+00:00"),
             ("UTC", "2026-11-01T00:00:00+00:00")]


@settings(max_examples=150, deadline=None)
@given(switch=st.sampled_from(_SWITCHES), before=st.integers(0, 3 * 3600),
       steps=st.lists(st.integers(-1800, 5400), min_size=1, max_size=60))
def test_calendar_day_agrees_with_zoneinfo_along_a_walk(switch, before, steps):
    # day() keeps the stretch of its last answer; a walk of steps from half an hour back to an
    # hour and a half forward, through a daylight-saving switch or a midnight off the whole hour.
    tz, anchor = switch
    calendar, zone = Calendar(tz), (timezone.utc if tz == "UTC" else ZoneInfo(tz))
    assert type(calendar.day).__name__ == "Day"                   # the C one is in use
    us = int(datetime.fromisoformat(anchor).timestamp() - before) * 1_000_000
    for step in steps:
        us += step * 1_000_000 + 123
        assert calendar.day(us) == _local_day(zone, us)            # in C (runtime/_periods.c)
        assert calendar.day(us - 1) == _local_day(zone, us - 1)
        assert Calendar.day(calendar, us) == _local_day(zone, us)  # the Python definition
        assert Calendar.day(calendar, us - 1) == _local_day(zone, us - 1)
        # date_text keeps each day's text: the oracle's local date, written out.
        local = (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).astimezone(zone)
        assert calendar.date_text(us) == f"{local.year:04d}-{local.month:02d}-{local.day:02d}"


# ---- the giver (Rewards.giver) against award() + its decision + awarded() ---------------------------
_GIVER_POLICY = '''
points rep {
  cap 2 per day except bonus
  floor -4
  tz "Asia/Shanghai"
}
points xp {
  decays 1 per 1h
}
levels rank by rep replace {
  0 "new"
  5 "regular" => promote("regular")
  12 "core" => promote("core")
}
levels tier by points stack {
  0 "t0"
  3 "t1" => award_badge("t1")
  9 "t2" => award_badge("t2")
}
every week tz "Asia/Shanghai" {
  top 2 by points => award_badge("week star")
}
every month {
  top 1 by points => notify(user, "top of the month")
}
rule r { on message do award_points(1, "rep") }
rule bonus { on message do award_points(1, "rep") }
rule p { on message do award_points(1) }
rule x { on message do award_points(1, "xp") }
'''

# Ints past one 30-bit digit (both signs) too: the C compares one-digit ints in place, others through Python.
_AMOUNTS = st.one_of(st.integers(-6, 8), st.sampled_from([0.5, -0.5, 2.25, -3.75, 0.0, 1e-9, 40, float("nan"),
                                                          1 << 40, -(1 << 40), (1 << 30) + 3, -(1 << 30) - 3]))


@lru_cache(maxsize=1)
def _giver_program():
    """_GIVER_POLICY compiled, as a policy `p` (compiled once for the tests that make givers of it)."""
    from policyengine.compiler.program import compile_program
    from policyengine.loader import load_text
    loaded = load_text([("g.policy", "policy p\n" + _GIVER_POLICY)])
    assert not [d for d in loaded.diagnostics if d.is_error]
    return compile_program(loaded.program)


def _givers(currency="points", source="p", named=False):
    """A fresh evaluator of _giver_program and a giver of it, in C and then in Python:
    (native, evaluator, give), for the tests that hold both to the same hand-worked answer."""
    from policyengine.runtime.evaluator import Evaluator
    for native in (True, False):
        evaluator = Evaluator(_giver_program())
        yield native, evaluator, evaluator.rewards.giver(currency, source, "p", source, named, native=native)


def _generic_award(rewards, currency, named, source, member, amount, now, event, out):
    """What the generated code did before the giver, step for step."""
    from policyengine.runtime.helpers import decision, plain_number
    points, balance = rewards.award(currency, member, amount, source, now)
    if points:
        extra = (("currency", currency),) if named else ()
        out.append(decision(now, "p", source, "award_points", member, event.get("id"),
                            (("points", plain_number(points)),) + extra + (("balance", plain_number(balance)),),
                            "why" if source == "r" else None))
        rewards.awarded(currency, member, points, balance, event, now, out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([("rep", True), ("points", False), ("xp", True)]),
                          st.sampled_from(["r", "bonus", "p", "x"]), st.sampled_from(["a", "b", None]),
                          _AMOUNTS, st.sampled_from([0, 1, 60_000_000, 3_600_000_000, 11 * 3_600_000_000])),
                min_size=5, max_size=60))
def test_giver_does_what_award_its_decision_and_awarded_do(steps):
    # Three evaluators of one program: the giver in C (runtime/_points.c), the Python giver (which
    # calls award() and awarded() itself), and those two called here step by step, as generated
    # code called them before givers: the C against the definitions, and the Python giver's fields.
    from policyengine.runtime import _points
    from policyengine.runtime.evaluator import Evaluator
    compiled = _giver_program()
    native, python, slow = Evaluator(compiled), Evaluator(compiled), Evaluator(compiled)
    givers: dict = {}
    now = 1_700_000_000_000_000
    outs: dict = {"native": [], "python": [], "slow": []}
    for i, ((currency, named), source, member, amount, step) in enumerate(steps):
        now += step
        event = {"type": "message", "user": member, "id": f"e{i}" if i % 3 else None}
        reason = "why" if source == "r" else None
        for evaluator in (native, python, slow):
            evaluator.store.events_seen = i + 1
        key = (currency, source, named)
        if key not in givers:
            givers[key] = (native.rewards.giver(currency, source, "p", source, named),
                           python.rewards.giver(currency, source, "p", source, named, native=False))
            assert isinstance(givers[key][0], _points.Giver) and not isinstance(givers[key][1], _points.Giver)
        # the store's event count as the record loop hands it (`seen`), or read from the store
        seen = (i + 1,) if i % 2 else ()
        givers[key][0](member, amount, now, event["id"], reason, event, outs["native"], *seen)
        givers[key][1](member, amount, now, event["id"], reason, event, outs["python"], *seen)
        _generic_award(slow.rewards, currency, named, source, member, amount, now, event, outs["slow"])
    assert repr(outs["native"]) == repr(outs["slow"])
    assert repr(outs["python"]) == repr(outs["slow"])
    for table in ("ledgers", "earned", "levels", "boards"):
        assert repr(getattr(native.store, table)) == repr(getattr(slow.store, table)), table
        assert repr(getattr(python.store, table)) == repr(getattr(slow.store, table)), table


def test_a_leaderboard_keeps_the_event_count_the_giver_is_handed():
    # Ties on a leaderboard go to who reached the score first: the pair keeps the event count the
    # giver is handed (`seen`: the record loop's, which is the store's), else the store's. Handed
    # a count other than the store's here, so that which one is kept shows.
    for native, evaluator, give in _givers():
        evaluator.store.events_seen = 5
        give("a", 2, 1_700_000_000_000_000, "e1", None, {"id": "e1"}, [])
        give("b", 3, 1_700_000_000_000_001, "e2", None, {"id": "e2"}, [], 9)
        assert [board["a"] for board in evaluator.store.boards.values()] == [(2, 5), (2, 5)], native
        assert [board["b"] for board in evaluator.store.boards.values()] == [(3, 9), (3, 9)], native
        with pytest.raises(TypeError):
            give("a", 1, 1_700_000_000_000_002, "e3", None, {"id": "e3"}, [], 6, 7)


def test_an_award_goes_to_the_tables_the_store_holds_now():
    # The C giver keeps the tables it found (its ledger, its leaderboards) while the store's dicts
    # are unchanged; a table the store replaces (a state file loaded, a period's board opened) is
    # the one the next award reads and writes. By hand: 2 points, then the ledger and the boards
    # start afresh, then 3 points: a balance of 3 and boards of 3, not 5.
    for native, evaluator, give in _givers():
        store = evaluator.store
        out: list = []
        give("a", 2, 1_700_000_000_000_000, "e1", None, {"id": "e1"}, out)
        old_ledger, old_boards = store.ledgers["points"], list(store.boards.values())
        del store.ledgers["points"]
        for key in list(store.boards):
            store.boards[key] = store.as_member_table({})
        give("a", 3, 1_700_000_000_000_001, "e2", None, {"id": "e2"}, out)
        assert [d["balance"] for d in out if d["action"] == "award_points"] == [2, 3], native
        assert store.ledgers["points"]["a"][0] == 3 and old_ledger["a"][0] == 2, native
        assert [board["a"][0] for board in store.boards.values()] == [3, 3], native
        assert [board["a"][0] for board in old_boards] == [2, 2], native


def test_an_award_reads_the_level_table_the_store_holds_now():
    # The C giver keeps the level tables it found while the store's dict of them is unchanged. By
    # hand: 4 points reach t1 (3), one more decides nothing; one more again decides no level when
    # the table still says t1, and t1 again when the store holds a new, empty table (level 0).
    for replaced in (False, True):
        for native, evaluator, give in _givers():
            store = evaluator.store
            first: list = []
            give("a", 4, 1_700_000_000_000_000, "e1", None, {"id": "e1"}, first)
            assert ("level_up", "t1") in [(d["action"], d.get("level")) for d in first]
            give("a", 1, 1_700_000_000_000_000, "e1", None, {"id": "e1"}, first)   # the table found, kept
            assert [d["action"] for d in first].count("level_up") == 1
            if replaced:
                for key in list(store.levels):
                    store.levels[key] = store.as_member_table({})
            second: list = []
            give("a", 1, 1_700_000_000_000_001, "e2", None, {"id": "e2"}, second)
            levels = [(d["action"], d.get("level")) for d in second if d["action"].startswith("level")]
            assert levels == ([("level_up", "t1")] if replaced else []), (native, replaced)


def test_a_nan_balance_takes_a_member_at_the_top_level_back_to_the_first():
    # A balance that is not a number reaches no level (incentives.level_of): a member at `core`
    # whose balance turns NaN goes down to `new`, and loses the role `core` gave.
    for native, evaluator, give in _givers("rep", "bonus", True):    # not capped
        out: list = []
        give("a", 13, 1_700_000_000_000_000, "e1", None, {"id": "e1"}, out)
        assert ("level_up", "core") in [(d["action"], d.get("level")) for d in out if d["rule"] == "rank"]
        out.clear()
        give("a", float("nan"), 1_700_000_000_000_001, "e2", None, {"id": "e2"}, out)
        assert [(d["rule"], d["action"], d.get("level", d.get("role"))) for d in out[1:]] == [
            ("rank", "level_down", "new"), ("rank", "demote", "core")], native


def test_a_balance_exactly_at_a_threshold_reaches_its_level():
    # Thresholds are reached, not passed: `tier` has "t1" at 3, so 2 + 1 points give its badge
    # on the second award, and 1 more (4) gives nothing new. The C giver decides itself whether
    # the level moved (`level_by`); a threshold read as not reached would skip the level-up.
    for native, evaluator, give in _givers():
        steps = []
        for i, amount in enumerate((2, 1, 1)):
            out: list = []
            give("a", amount, 1_700_000_000_000_000 + i, f"e{i}", None, {"id": f"e{i}"}, out)
            steps.append([(d["action"], d.get("level", d.get("badge"))) for d in out if d["rule"] == "tier"])
        assert steps == [[], [("level_up", "t1"), ("award_badge", "t1")], []], native


def test_an_award_never_changes_a_record_someone_else_holds():
    # The C giver rewrites a ledger's, a cap's and a leaderboard's pair in place when only the
    # table holds it; a pair held elsewhere (here, by the test) must stay as it was, and the
    # table get a new one. `rep` is capped (a pair a day in `earned`); `points` is ranked weekly
    # and monthly (a pair in each board). By hand: 1 + 1 leaves balances, earned and scores of 2.
    from policyengine.runtime.evaluator import Evaluator
    compiled = _giver_program()
    evaluator = Evaluator(compiled)
    store = evaluator.store
    rep = evaluator.rewards.giver("rep", "r", "p", "r", True)
    points = evaluator.rewards.giver("points", "p", "p", "p", False)
    now = 1_700_000_000_000_000
    for give in (rep, points):
        give("a", 1, now, "e1", None, {"id": "e1"}, [])
    held = [store.ledgers["rep"]["a"], store.earned["rep"]["a"], store.ledgers["points"]["a"]] + \
        [board["a"] for board in store.boards.values()]
    assert len(held) == 5
    copies = [(pair[0], pair[1]) for pair in held]
    for give in (rep, points):
        give("a", 1, now + 1, "e2", None, {"id": "e2"}, [])
    assert [(pair[0], pair[1]) for pair in held] == copies            # what was held did not move
    assert store.ledgers["rep"]["a"] == (2, now + 1) == store.ledgers["points"]["a"]
    assert store.earned["rep"]["a"][1] == 2 and [board["a"][0] for board in store.boards.values()] == [2, 2]


def test_active_days_stay_ascending_whatever_order_days_come_in():
    # Generated code keeps the usual cases itself and hands a day before the last to
    # active_days_add, which puts it in its place: active_days_now reads the list by its ends.
    from policyengine.runtime.incentives import active_days_add, active_days_now
    table: dict = {}
    for day in (10, 12, 11, 12, 10):
        active_days_add(table, "u", day, 7)
    assert table["u"] == [10, 11, 12]
    active_days_add(table, "u", 17, 7)               # days after 17 − 7 = 10 stay
    assert table["u"] == [11, 12, 17] and active_days_now(table, "u", 17, 7) == 3
    assert active_days_now(table, "u", 18, 7) == 2   # (11, 18]: 12 and 17
    assert active_days_now(table, "u", 19, 7) == 1   # (12, 19]: 17 alone


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u", "v"]),
                          st.one_of(st.integers(0, 40), st.sampled_from([1 << 64, -(1 << 63) + 1, (1 << 62) + 7])),
                          st.sampled_from([0, 1, 3, 14, (1 << 63) - 1, 1 << 70])),
                max_size=40),
       st.sampled_from([None, [], "not a list"]))
def test_active_days_add_read_in_c_does_what_its_definition_does(steps, start):
    # Days mostly forward, some back (a day before the last goes to the Python function, which
    # puts it in its place), spans down to 0 (which empty the list); days and spans past 64 bits,
    # or whose difference is (C compares them as Python would, not in C integers); a key may start with an
    # empty list, or with something that is not a list (both must then fail alike).
    from policyengine.runtime import _windows, incentives
    assert incentives.active_days_add_read is _windows.active_days_add_read
    tables = {"c": {}, "py": {}}
    if start is not None:
        for side in tables:
            tables[side]["u"] = list(start) if isinstance(start, list) else start
    for member, day, span in steps:
        got = {}
        for side, fn in (("c", _windows.active_days_add_read), ("py", incentives.python_active_days_add_read)):
            try:
                got[side] = fn(tables[side], member, day, span)
            except Exception as exc:
                got[side] = type(exc).__name__
        assert got["c"] == got["py"], (member, day, span)
        assert tables["c"] == tables["py"]


def test_active_days_add_read_by_hand():
    # Span 7: days 10, 12, 12, 17 → [10, 12] has 2, then 2 again, then (10, 17]: 12 and 17.
    from policyengine.runtime import _windows
    table: dict = {}
    assert [_windows.active_days_add_read(table, "u", d, 7) for d in (10, 12, 12, 17)] == [1, 2, 2, 2]
    assert table["u"] == [12, 17]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["arm", "end", "hold"]), st.sampled_from(["u1", "u2", "张三"]),
                          st.integers(0, 10)), max_size=30), st.booleans())
def test_a_silence_by_member_is_re_armed_and_ended_as_its_definition_says(steps, in_column):
    # replace_pair_of and pop_of (runtime/_points.c) against helpers' definitions, on a dict and on
    # a column of 1-tuples (silences by member, read by the member without the tuple), with pairs a
    # caller holds (never changed under it: the column then gets a new pair, by its tuple key).
    from policyengine.runtime import _points, helpers
    from policyengine.runtime._columns import Column, MemberIndex
    index = MemberIndex()
    c_table = Column(index, True) if in_column else {}
    py_table: dict = {}
    held = []
    for n, (what, member, a) in enumerate(steps):
        if what == "arm":
            got = _points.replace_pair_of(c_table, member, a, n)
            assert got == helpers.python_replace_pair_of(py_table, member, a, n)
            if not got:                              # a miss: armed afresh, as RT.arm does
                c_table[(member,)] = py_table[(member,)] = (a, n)
        elif what == "end":
            assert _points.pop_of(c_table, member) is None and helpers.python_pop_of(py_table, member) is None
        elif (member,) in c_table:
            held.append((c_table[(member,)], py_table[(member,)]))
        assert dict(c_table.items()) == py_table
    assert all(kept == copy for kept, copy in held)   # a held pair keeps its values


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "张三"]), st.integers(0, 100)), max_size=30), st.booleans(),
       st.sampled_from([None, 2 ** 63 - 1, 2.5, 2 ** 70]))
def test_a_messages_member_is_counted_as_the_loop_counted_it(seen, in_column, start):
    # member_seen (runtime/_points.c) against helpers' definition, the loop's own lines: a new
    # member's row, one more message on a row, counts past 64 bits and counts that are not ints.
    from policyengine.runtime import _points, helpers
    from policyengine.runtime._columns import Column, MemberIndex
    c_table = Column(MemberIndex()) if in_column else {}
    py_table: dict = {}
    if start is not None:
        c_table["u1"], py_table["u1"] = [0, 0, start], [0, 0, start]
    for member, ts in seen:
        assert _points.member_seen(c_table, member, ts) is None and helpers.python_member_seen(py_table, member, ts) is None
        assert dict(c_table.items()) == py_table
        assert all(type(a[2]) is type(b[2]) for a, b in zip(dict(c_table.items()).values(), py_table.values()))


def test_a_messages_member_by_hand():
    from policyengine.runtime import _points
    members: dict = {}
    for ts in (5, 7, 9):
        _points.member_seen(members, "u", ts)
    assert members == {"u": [5, 5, 3]}
    members["t"] = (1, 1, 1)                       # not a list: as `row[2] += 1` fails, so does it
    with pytest.raises(TypeError):
        _points.member_seen(members, "t", 10)
    with pytest.raises(TypeError):
        _points.member_seen(members, ["unhashable"], 10)


def test_a_silence_by_member_by_hand():
    from policyengine.runtime import _points
    from policyengine.runtime._columns import Column, MemberIndex
    for table in ({}, Column(MemberIndex(), True)):
        assert _points.replace_pair_of(table, "u", 5, 1) is False and len(table) == 0
        table[("u",)] = (5, 1)
        assert _points.replace_pair_of(table, "u", 9, 2) is True and table[("u",)] == (9, 2)
        assert _points.pop_of(table, "v") is None and table[("u",)] == (9, 2)
        assert _points.pop_of(table, "u") is None and ("u",) not in table and len(table) == 0
    with pytest.raises(TypeError):
        _points.replace_pair_of([], "u", 1, 2)
    with pytest.raises(TypeError):
        _points.pop_of({}, ["unhashable"])


def test_replace_pair_in_c_does_what_its_definition_does():
    # helpers.python_replace_pair is the definition; the C one must agree on every table and
    # must never change a pair someone else holds, nor write a container into a tuple in place
    # (the cycle collector would not see it).
    from policyengine.runtime import _points, helpers
    assert helpers.replace_pair is _points.replace_pair
    tables = {"c": {}, "py": {}}
    for side in tables:
        tables[side][("m",)] = (5, 1)
        tables[side]["n"] = [1, 2]                 # not a pair: replaced by a new tuple
    held = tables["c"][("m",)]
    calls = [(("m",), 9, 2), (("x",), 1, 1), ("n", 3, 4), (("m",), 11, 3)]
    for key, a, b in calls:
        got = {"c": _points.replace_pair(tables["c"], key, a, b),
               "py": helpers.python_replace_pair(tables["py"], key, a, b)}
        assert got["c"] == got["py"] == (key != ("x",))
    assert tables["c"] == tables["py"] == {("m",): (11, 3), "n": (3, 4)}
    assert held == (5, 1)                          # the test holds it: the table got a new pair
    # Held by the table alone, the pair is rewritten in place (the same tuple: a new one is made
    # before the old is freed, so it cannot take its address); a container is never written in.
    alone = id(tables["c"][("m",)])
    _points.replace_pair(tables["c"], ("m",), 12, 4)
    assert id(tables["c"][("m",)]) == alone and tables["c"][("m",)] == (12, 4)
    _points.replace_pair(tables["c"], ("m",), [1], 5)
    assert id(tables["c"][("m",)]) != alone and tables["c"][("m",)] == ([1], 5)
    try:
        _points.replace_pair([], "k", 1, 2)
    except TypeError as err:
        assert "a dict or a column" in str(err)
    else:
        raise AssertionError("a list was taken for a table")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u", "v", "w", "sweep"]),
                          st.one_of(st.integers(-5, 60), st.sampled_from([1 << 64, (1 << 63) - 2, -(1 << 63), 2.5])),
                          st.sampled_from([0, 1, 10, (1 << 63) - 1, 1 << 70, 0.5])),
                max_size=40),
       st.sampled_from([None, "none", 30, 1 << 65, "text"]))
def test_cooldown_take_and_its_sweep_in_c_do_what_their_definitions_do(steps, start):
    # Times mostly small ints, some past 64 bits or whose sum with the width is (C adds and
    # compares those as Python does), floats; a key may start with a cooldown kept as None, as a
    # huge end, or as something no time compares with (both must then fail alike). "sweep": the
    # store's sweep of the table at that time (drop_ended), in the same states.
    from policyengine.runtime import _columns, _points, helpers
    assert helpers.cooldown_take is _points.cooldown_take and helpers.drop_ended is _points.drop_ended
    tables = {"c": {}, "col": _columns.Column(_columns.MemberIndex()), "py": {}}
    if start is not None:
        for side in tables:
            tables[side]["u"] = None if start == "none" else start
    for member, now, width in steps:
        got = {}
        for side, take, drop in (("c", _points.cooldown_take, _points.drop_ended),
                                 ("col", _points.cooldown_take, _points.drop_ended),
                                 ("py", helpers.python_cooldown_take, helpers.python_drop_ended)):
            try:
                got[side] = drop(tables[side], now) if member == "sweep" else take(tables[side], member, now, width)
            except Exception as exc:
                got[side] = type(exc).__name__
        assert got["c"] == got["col"] == got["py"], (member, now, width)
        assert tables["c"] == tables["py"] == dict(tables["col"].items())


def test_the_sweep_of_cooldowns_by_hand():
    # At 20: the cooldowns that ended at 15 and at 20 are over (a cooldown runs until, not
    # including, its end), the one ending at 21 runs on; in a dict and in a member-keyed column.
    from policyengine.runtime import _columns, _points
    for table in ({}, _columns.Column(_columns.MemberIndex())):
        for member, until in (("a", 15), ("b", 21), ("c", 20), ("d", 1 << 70)):
            table[member] = until
        _points.drop_ended(table, 20)
        assert dict(table.items()) == {"b": 21, "d": 1 << 70} and len(table) == 2


def test_a_sweep_of_cooldowns_that_meets_what_no_time_compares_with_stops_there():
    # As the definition's loop over the keys does: "a" (ended) goes before the walk reaches "b",
    # which no time compares with; "c" (ended too) is not reached. In a dict, a column, and Python.
    from policyengine.runtime import _columns, _points, helpers
    for table, drop in (({}, _points.drop_ended), (_columns.Column(_columns.MemberIndex()), _points.drop_ended),
                        ({}, helpers.python_drop_ended)):
        for member, until in (("a", 5), ("b", "text"), ("c", 5)):
            table[member] = until
        try:
            drop(table, 10)
        except TypeError:
            pass
        else:
            raise AssertionError("a str compared with a time")
        assert dict(table.items()) == {"b": "text", "c": 5}


def test_cooldown_take_by_hand():
    # A 10-unit cooldown taken at 5 runs until 15: refused at 14, taken again at 15 (until 25).
    from policyengine.runtime import _points
    table: dict = {}
    assert [_points.cooldown_take(table, "u", t, 10) for t in (5, 14, 15, 24)] == [True, False, True, False]
    assert table == {"u": 25}


def test_caps_and_thresholds_keep_the_number_as_written():
    # `cap 20` and `100 "…"` are ints (the giver compares them as C integers); a decimal point
    # makes a float, and awards against it still come out exact.
    from policyengine.loader import load_text
    program = load_text([("n.policy", '''
points points { cap 20 per day }
points stars { cap 2.5 per day }
levels lv by points replace {
  0 "a"
  100 "b"
}
levels half by stars replace {
  0 "low"
  1.5 "high"
}
rule p { on message do award_points(1) }
rule s { on message do award_points(1, "stars") }
''')]).program
    caps = {c.name: c.cap for c in program.currencies.values()}
    assert caps == {"points": 20, "stars": 2.5} and type(caps["points"]) is int
    thresholds = {spec.name: [t for t, _, _ in spec.entries] for spec in program.levels}
    assert thresholds == {"lv": [0, 100], "half": [0, 1.5]}
    assert all(type(t) is int for t in thresholds["lv"])
    engine = Engine.from_text('''
points stars { cap 2.5 per day }
levels half by stars replace {
  0 "low"
  1.5 "high"
}
rule s { on message do award_points(1, "stars") }
''')
    seen = []
    for i in range(4):
        for d in engine.process({"type": "message", "ts": f"2026-11-02T10:00:0{i}Z", "user": "u", "id": f"m{i}"}):
            said = d.model_dump(exclude_none=True)
            seen.append((d.action, said.get("points"), said.get("balance"), said.get("level")))
    # By hand: 1 (balance 1), 1 (balance 2: past 1.5, level "high"), then the cap's last 0.5
    # (balance 2.5), then nothing: the day's 2.5 are given.
    assert seen == [("award_points", 1, 1, None), ("award_points", 1, 2, None), ("level_up", None, None, "high"),
                    ("award_points", 0.5, 2.5, None)]


def test_member_tables_a_state_file_restores_become_columns_where_they_are_read():
    # A state file holds ledgers, cap tables, leaderboards and level tables as dicts. Restored,
    # they stay dicts until an award reads them; the giver (C) then asks the store, the one place
    # that makes member-keyed tables columns, and the balances go on from where they were.
    from policyengine.compiler.program import compile_program
    from policyengine.loader import load_text
    from policyengine.runtime._columns import Column
    from policyengine.runtime.evaluator import Evaluator
    from policyengine.state.snapshot import capture, restore
    compiled = compile_program(load_text([("r.policy", '''
points points { cap 5 per day }
levels lv by points replace {
  0 "a"
  2 "b"
}
every month {
  top 1 by points => award_badge("star")
}
rule p { on message do award_points(1) }
''')]).program)
    t0 = 1_793_000_000_000_000                                  # 2026-10-27, µs
    first = Evaluator(compiled)
    for i in range(3):
        first.process({"type": "message", "user": "u", "id": f"m{i}"}, t0 + i)
    store, dropped = restore(capture(first.store, compiled), compiled)
    assert dropped == [] and store.ledgers["points"].__class__ is dict
    second = Evaluator(compiled, store)
    out = second.process({"type": "message", "user": "u", "id": "m3"}, t0 + 3)
    assert [(d["action"], d.get("balance")) for d in out] == [("award_points", 4)]   # 3 before, by hand
    assert store.ledgers["points"].__class__ is Column and store.earned["points"].__class__ is Column
    assert all(board.__class__ is Column for board in store.boards.values())
    assert dict(store.ledgers["points"].items())["u"][0] == 4


@pytest.mark.parametrize("rule_before, rule_after", [(False, False), (True, False), (False, True)])
def test_a_leaderboard_metric_is_not_also_kept_as_an_all_time_count(rule_before, rule_after):
    """`top 3 by count(message)` is counted per period, by member; checking it once kept
    `count(message)` as written too, an all-time count updated on every message that nobody read.
    A rule that reads that count, before the block or after it, still has it kept."""
    from policyengine.compiler import compile_program
    from policyengine.loader import load_text
    rule = 'rule r { on message when count(message) > 5 do warn("x") }\n'
    source = ("policy p\n" + (rule if rule_before else "")
              + 'every week {\n  top 3 by count(message) => award_badge("b")\n}\n' + (rule if rule_after else ""))
    program = load_text([("p.policy", source)]).program
    keys = sorted(tuple(field.value for field in spec.keys) for spec in program.aggregates.values())
    read = rule_before or rule_after
    assert keys == ([(), (("user",),)] if read else [(("user",),)])
    assert ("count_up(" in compile_program(program).source) == read


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u", "v", None]), st.sampled_from([(0, 0), (0, 1), (1, 0)]),
                          st.sampled_from([1, 0, 2.5, -3, 0.0, 1 << 64]), st.sampled_from([None, 7])),
                max_size=40),
       st.booleans())
def test_board_add_in_c_does_what_its_definition_does(steps, restored):
    # A leaderboard counting: amounts ints, floats, zero (nothing counted), past 64 bits; a member
    # None (nothing counted); the event count the store's or given (`seen`, as the giver gives
    # it); boards made as they are first counted, or restored from a state file as a dict (made a
    # column by the store's member_table, as the definition does).
    from policyengine.runtime import _points, helpers
    from policyengine.runtime.store import MemoryStore
    assert helpers.board_add is _points.board_add
    stores = {"c": MemoryStore(), "py": MemoryStore()}
    for store in stores.values():
        if restored:
            store.boards[(0, 0)] = {"u": (4, 2)}              # as snapshot.restore leaves it
    for n, (member, key, amount, seen) in enumerate(steps):
        for side, add in (("c", _points.board_add), ("py", helpers.python_board_add)):
            store = stores[side]
            store.events_seen = n + 1
            add(store, store.boards, key, member, amount, seen)
        boards = [{k: dict(v.items()) for k, v in stores[side].boards.items()} for side in ("c", "py")]
        assert boards[0] == boards[1], (member, key, amount)
        assert all(type(v[0]) is type(w[0])                  # 0 + 1 stays an int, 1 + 2.5 a float
                   for k in boards[0] for v, w in zip(boards[0][k].values(), boards[1][k].values()))


def test_board_add_by_hand():
    # u counted twice (1 at event 3, 2.5 at event 7), v once; 0 counts nothing, None is nobody.
    from policyengine.runtime.helpers import board_add
    from policyengine.runtime.store import MemoryStore
    store = MemoryStore()
    for seen, member, amount in ((3, "u", 1), (5, "v", 1), (6, "u", 0), (7, "u", 2.5), (8, None, 1)):
        store.events_seen = seen
        board_add(store, store.boards, (0, 1), member, amount)
    assert dict(store.boards[(0, 1)].items()) == {"u": (3.5, 7), "v": (1, 5)}


_entries = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "张", "u10", "u9"]),
                           st.tuples(st.one_of(st.integers(-2, 4), st.sampled_from([0.5, 2.0, -0.5])),
                                     st.integers(0, 3)), max_size=8)


@settings(max_examples=500, deadline=None)
@given(_entries, st.integers(-1, 6), st.sampled_from([None, "vowels"]), st.booleans(), st.lists(st.sampled_from(
    ["a", "b", "c", "d", "e", "张", "u10", "u9"]), max_size=3))
def test_a_boards_winners_in_c_are_the_definitions(entries, top, allowed, as_column, emptied):
    # runtime/_points.c's top_of against incentives.python_ranking: values tied and not, ≤ 0,
    # ints beside floats; seqs tied (then the member decides); who may win; a column (rows of
    # other members and rows emptied among them) or a dict.
    from policyengine.runtime._columns import Column, MemberIndex
    from policyengine.runtime._points import top_of
    from policyengine.runtime.incentives import python_ranking
    may = None if allowed is None else (lambda member: member[0] in "aeiou张")
    board = entries
    if as_column:
        index = MemberIndex()
        board, other = Column(index), Column(index)
        for member in emptied:
            other[member] = 1                   # a row made by another column
            board[member] = (9, 9)
            del board[member]                   # and one emptied in this one
        for member, pair in entries.items():
            board[member] = pair
    assert top_of(board, top, may) == python_ranking(entries, top, may)


def test_a_board_top_of_does_not_read_is_left_to_python():
    from policyengine.runtime._points import top_of
    from policyengine.runtime.incentives import ranking
    odd = {"a": [3, 1], "b": (2, 0)}                            # a list, not a pair
    assert top_of(odd, 2, None) is NotImplemented and ranking(odd, 2) == [("a", 3), ("b", 2)]
    assert top_of({"a": (1, 0)}, 2_000, None) is NotImplemented and ranking({"a": (1, 0)}, 2_000) == [("a", 1)]

"""Sliding windows in C (runtime/_windows.c) against their Python definitions (runtime/aggregates.py,
helpers.window_count): the same answers and the same state after any sequence of adds and reads,
in tables that are dicts and in member-keyed columns (runtime/_columns.c)."""
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.runtime import _windows, aggregates, codec, helpers
from policyengine.runtime._columns import Column, MemberIndex

PY = aggregates.PYTHON_WINDOWS

# Times as events give them (µs, ascending with jitter), and some no event gives: before 1970,
# past 64 bits (compared by Python, not in C), equal to a neighbour. Real event times (2026 in µs,
# and as far before 1970) are two-digit ints, which C reads in place on 3.11; past 2**60, three digits.
_TIMES = st.one_of(st.integers(0, 40), st.sampled_from([-(1 << 62), -5, 1 << 64, (1 << 64) + 1,
                                                        1767225600000000, -1767225600000000, (1 << 30) - 3, (1 << 60) - 20]))
# A list too: no window can count it, and C and Python must fail alike, leaving the same state.
_VALUES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["a", "b", "加微信", "", 2.5, -0.0, 0.1, ["x"]]))
_OPS = st.lists(st.tuples(st.sampled_from(["add", "distinct", "repeats", "sum", "evict", "sweep", "count",
                                           "sweep all", "add and read", "add and count"]),
                          st.sampled_from(["sum", "distinct", "repeats", "similar"]), st.sampled_from(["k1", "k2"]),
                          _TIMES, _VALUES, st.sampled_from([0, 1, 5, 20, 1 << 70, (1 << 63) - 1])),
                max_size=80)


def _state(table: dict) -> dict:
    """A table as plain data: each window's kind, entries and summary; deques as lists."""
    out = {}
    for key, value in table.items():
        if isinstance(value, deque):
            out[key] = ("deque", list(value))
        else:
            out[key] = (value.kind, list(value.entries), _summary(value.summary))
    return out


def _summary(summary):
    """A summary as reads see it. Counts compare as dicts: a C window makes its dict from its ring
    once it holds more than a few entries, so the dict's order, and which of equal values (0, -0.0)
    it holds, may differ from Python's; nothing reads either. A sum as Python shows it (0 or 0.0)."""
    return dict(summary) if isinstance(summary, dict) else repr(summary)


@settings(max_examples=400, deadline=None)
@given(_OPS)
def test_c_windows_do_what_the_python_ones_do(ops):
    # "col": the C functions on two columns of one member index, as a store's member-keyed tables are.
    index = MemberIndex()
    tables = {"c": {}, "col": Column(index), "py": {}}
    counts = {"c": {}, "col": Column(index), "py": {}}
    clock = 0
    for op, kind, key, step, value, width in ops:
        clock = step if step > 40 or step < 0 else clock + step     # mostly forward, now and then anywhere
        results = {}
        for side, impl in (("c", vars(_windows)), ("col", vars(_windows)), ("py", PY)):
            table, times = tables[side], counts[side]
            # A key keeps the kind it was first added with, as one aggregate's table does.
            window = table.get(key)
            kind_here = window.kind if window is not None else kind
            try:
                if op == "add":
                    results[side] = impl["add_window"](table, key, kind_here, clock, value if kind_here != "sum" or
                                                       isinstance(value, (int, float)) else None)
                elif op == "distinct" and kind_here in ("distinct", "repeats"):
                    results[side] = impl["window_distinct"](table, key, clock, width)
                elif op == "repeats" and kind_here in ("distinct", "repeats"):
                    results[side] = impl["window_repeats"](table, key, clock, width, value)
                elif op == "sum" and kind_here == "sum":
                    results[side] = impl["window_sum"](table, key, clock, width)
                elif op == "evict" and window is not None:
                    results[side] = window.evict(clock - width)
                elif op == "sweep":
                    results[side] = aggregates.evict(table, key, clock - width)
                elif op == "sweep all":                 # the store's sweep, over windows and deques of times
                    results[side] = (impl["evict_all"](table, clock - width), impl["evict_all"](times, clock - width))
                elif op == "count":                    # a rule's read of a windowed count, now
                    count = helpers.python_window_count if side == "py" else _windows.window_count
                    results[side] = count(times, key, clock, width)
                elif op == "add and read":              # a handler's update that hands its rules the read
                    results[side] = impl["add_read"](table, key, kind_here, clock, value, width)
                elif op == "add and count":
                    add = helpers.python_add_count if side == "py" else _windows.add_count
                    results[side] = add(times, key, clock, width)
            except Exception as exc:             # both must fail alike (a time compared with None, …)
                results[side] = type(exc).__name__
        assert repr(results.get("c")) == repr(results.get("py")) == repr(results.get("col")), \
            (op, kind, key, clock, value, width)
        assert _state(tables["c"]) == _state(tables["py"]) == _state(tables["col"])
        assert ({k: list(v) for k, v in counts["c"].items()} == {k: list(v) for k, v in counts["py"].items()}
                == {k: list(v) for k, v in counts["col"].items()})


def test_c_window_is_the_one_in_use_and_keeps_its_state_through_the_codec():
    assert aggregates.Window is _windows.Window and helpers.window_count is _windows.window_count
    table: dict = {}
    for ts, text in ((10, "x"), (11, "y"), (12, "x")):
        _windows.add_window(table, "m", "repeats", ts, text)
    assert _windows.window_repeats(table, "m", 12, 5, "x") == 2
    back = codec.loads(codec.dumps(table))
    assert isinstance(back["m"], _windows.Window)
    assert (back["m"].kind, list(back["m"].entries), back["m"].summary) == ("repeats", [(10, "x"), (11, "y"), (12, "x")],
                                                                          {"x": 2, "y": 1})
    # (t − width, t]: at 15 with width 5 the entry at 10 has left, the one at 11 not yet.
    assert _windows.window_distinct(back, "m", 15, 5) == 2 and _windows.window_repeats(back, "m", 15, 5, "x") == 1
    assert _windows.window_distinct(back, "m", 100, 5) == 0 and "m" not in back    # an empty window is dropped
    sums: dict = {}
    for ts, amount in ((1, 0.1), (2, 0.2)):
        _windows.add_window(sums, "s", "sum", ts, amount)
    assert _windows.window_sum(sums, "s", 2, 10) == 0.1 + 0.2
    # The entry at 1 leaves by subtraction (drift and all, as in Python); an empty window sums to 0 again.
    assert _windows.window_sum(sums, "s", 11, 10) == (0.1 + 0.2) - 0.1 and _windows.window_sum(sums, "s", 12, 10) == 0
    emptied = _windows.Window("sum")
    emptied.add(1, 0.1)
    emptied.add(2, 0.2)
    emptied.evict(2)
    assert list(emptied.entries) == [] and type(emptied.summary) is int and emptied.summary == 0


def test_a_window_that_slides_for_long_keeps_its_entries_in_order():
    # The C window keeps entries in a ring that wraps and doubles: a window that keeps about five
    # entries while sixty pass through (and a burst that makes it grow mid-wrap) must hold what
    # the Python window holds at every step. Random operations rarely slide this far.
    tables = {"c": {}, "py": {}}
    impls = {"c": vars(_windows), "py": PY}
    times = list(range(60)) + [60] * 9 + list(range(61, 90))
    for i, t in enumerate(times):
        for side in ("c", "py"):
            impls[side]["add_window"](tables[side], "k", "repeats", t, i % 4)
            impls[side]["add_window"](tables[side], "s", "sum", t, i)
        c_reads = (_windows.window_distinct(tables["c"], "k", t, 5), _windows.window_repeats(tables["c"], "k", t, 5, 1),
                   _windows.window_sum(tables["c"], "s", t, 5))
        py_reads = (PY["window_distinct"](tables["py"], "k", t, 5), PY["window_repeats"](tables["py"], "k", t, 5, 1),
                    PY["window_sum"](tables["py"], "s", t, 5))
        assert c_reads == py_reads, t
        assert _state(tables["c"]) == _state(tables["py"]), t
    # By hand: at t = 89 the window (84, 89] holds t = 85..89; t = 61 is the 70th event (index
    # 69, after 60 single times and 9 at t = 60), so t = 85..89 are events 93..97.
    assert [ts for ts, _ in tables["c"]["s"].entries] == [85, 86, 87, 88, 89]
    assert _windows.window_sum(tables["c"], "s", 89, 5) == 93 + 94 + 95 + 96 + 97


def test_a_window_of_one_entry_answers_as_its_summary_dict_would():
    # A counted window that has held one entry keeps no summary dict in C (most copypasta windows
    # are one text's): its reads must still answer, and fail, as the dict would.
    for impl in (vars(_windows), PY):
        table: dict = {}
        impl["add_window"](table, "t", "repeats", 10, "hello")
        assert impl["window_repeats"](table, "t", 10, 5, "hello") == 1
        assert impl["window_repeats"](table, "t", 10, 5, "other") == 0
        assert impl["window_distinct"](table, "t", 10, 5) == 1
        assert table["t"].summary == {"hello": 1}
        try:
            impl["window_repeats"](table, "t", 10, 5, ["unhashable"])
        except TypeError:
            pass
        else:
            raise AssertionError("a dict cannot be asked for a list")
        impl["add_window"](table, "t", "repeats", 11, "hello")      # the second entry makes the dict
        assert impl["window_repeats"](table, "t", 11, 5, "hello") == 2 and table["t"].summary == {"hello": 2}


def test_an_update_that_reads_gives_what_the_rules_would_read_after_it():
    # By hand, windows 10 µs wide. Repeats: at 100 "a", 105 "b", 108 "a" ("a" twice in (98, 108]),
    # 112 "a" (the entry at 100 has left (102, 112]: "a" twice again). What each call hands back
    # is what add_window followed by the rules' read gives.
    for add_read, add_count in ((_windows.add_read, _windows.add_count),
                                (PY["add_read"], helpers.python_add_count)):
        table: dict = {}
        got = [add_read(table, "m", "repeats", t, v, 10) for t, v in ((100, "a"), (105, "b"), (108, "a"), (112, "a"))]
        assert got == [1, 1, 2, 2]
        distinct: dict = {}
        got = [add_read(distinct, "t", "distinct", t, v, 10) for t, v in ((100, "u1"), (105, "u2"), (108, "u1"),
                                                                         (116, "u3"))]
        assert got == [1, 2, 2, 2]                 # at 116 only 108's u1 and u3 are inside (106, 116]
        assert add_read(distinct, "t", "distinct", 117, None, 10) == 2     # nothing added, still read
        # A kind made at run time is not the interned literal the generated code passes: the C
        # side compares it by text then, with the same answer.
        built = "".join(["rep", "eats"])
        assert add_read(table, "m", built, 113, "a", 10) == 3              # 108, 112, 113 in (103, 113]
        times: dict = {}
        assert [add_count(times, (), t, 10) for t in (1, 5, 11, 12, 30)] == [1, 2, 2, 3, 1]
        assert list(times[()]) == [30]
        try:
            add_read(table, "m", "sum", 113, 1, 10)
        except ValueError as err:
            assert "repeats" in str(err)
        else:
            raise AssertionError("add_read took a sum window")


class _EqualToAll:
    """Equal to everything, hashed by identity: a dict keeps two of them apart (the hash differs
    before == is asked), so a window must too. Events from the embedding API may hold any value."""

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def test_a_small_window_finds_values_as_a_dict_would():
    # By hand, for a dict: 1, 1.0 and True are one key (equal, same hash); two _EqualToAll are two
    # keys and neither is 1. The window holds [1, 1.0, True, a, b] (five: fewer than the entries
    # past which the C window makes its dict) and then twelve more of b (the dict, made from the ring).
    a, b = _EqualToAll(), _EqualToAll()
    for impl in (vars(_windows), PY):
        table: dict = {}
        for ts, value in enumerate([1, 1.0, True, a, b]):
            impl["add_window"](table, "k", "repeats", ts, value)
        assert impl["window_distinct"](table, "k", 4, 100) == 3
        assert impl["window_repeats"](table, "k", 4, 100, 1) == 3
        assert impl["window_repeats"](table, "k", 4, 100, a) == 1
        assert impl["window_repeats"](table, "k", 4, 100, _EqualToAll()) == 0
        for ts in range(5, 17):
            impl["add_window"](table, "k", "repeats", ts, b)
        assert impl["window_distinct"](table, "k", 16, 100) == 3
        assert impl["window_repeats"](table, "k", 16, 100, b) == 13
        assert impl["window_repeats"](table, "k", 16, 100, 1.0) == 3
        # (11, 16] holds five of b: the dict, made, counts down as entries leave.
        assert impl["window_distinct"](table, "k", 16, 5) == 1 and impl["window_repeats"](table, "k", 16, 5, b) == 5


def test_a_windowed_count_keeps_its_times_in_c_and_reads_as_the_deque_would():
    # By hand, 10 µs wide: times 1, 5, 11, 12 → counts 1, 2, 2 ((1, 11] holds 5 and 11), 3.
    times: dict = {}
    assert [_windows.add_count(times, "m", t, 10) for t in (1, 5, 11, 12)] == [1, 2, 2, 3]
    held = times["m"]
    assert type(held) is _windows.Times and list(held) == [5, 11, 12] and len(held) == 3
    assert (held[0], held[-1], repr(held)) == (5, 12, "Times([5, 11, 12])")
    # What shows and stores state takes it for the deque it stands for; a state file gives the deque
    # back, and counting goes on from it.
    assert codec.encode(times) == {"d": [["m", {"q": [5, 11, 12]}]]}
    back = codec.loads(codec.dumps(times))
    assert type(back["m"]) is deque and _windows.add_count(back, "m", 16, 10) == 3 and list(back["m"]) == [11, 12, 16]
    # The store's sweep, the Python sweep and a read drop times at or before the edge; empty, the key goes.
    aggregates.evict(times, "m", 5)
    assert list(times["m"]) == [11, 12]
    _windows.evict_all(times, 11)
    assert list(times["m"]) == [12] and _windows.window_count(times, "m", 30, 10) == 0 and "m" not in times
    # A time that is not an int of 64 bits (a float here) turns the key's times into the deque
    # Python keeps, in order, and Python compares them from then on: (2.5, 12.5] holds 5, 11 and 12.5.
    assert [_windows.add_count(times, "f", t, 10) for t in (1, 5, 11)] == [1, 2, 2]
    assert _windows.add_count(times, "f", 12.5, 10) == 3
    assert type(times["f"]) is deque and list(times["f"]) == [5, 11, 12.5]
    # Past 64 bits, and an edge past 64 bits: the same answers as the deque's.
    big = 1 << 64
    assert _windows.add_count(times, "b", big, 10) == 1 and type(times["b"]) is deque
    assert _windows.add_count(times, "w", 3, 1 << 70) == 1 and _windows.add_count(times, "w", 4, 1 << 70) == 2
    assert type(times["w"]) is _windows.Times and _windows.window_count(times, "w", 4, 1) == 1
    # A read at a time that is a float: (5.0, 15.0] no longer holds 5, as Python's 5 <= 5.0 says.
    assert [_windows.add_count(times, "r", t, 100) for t in (5, 6)] == [1, 2]
    assert _windows.window_count(times, "r", 15.0, 10) == 1 and list(times["r"]) == [6]


def test_an_all_time_count_counts_up_as_python_does():
    # By hand: nothing yet → 1, 2; and from what a state file may hold: a float, a bool, the last
    # int of 64 bits and one past it, each one more, in a dict and in a member-keyed column.
    start = {"f": 2.5, "b": True, "top": (1 << 63) - 1, "big": 1 << 70}
    for table in ({}, Column(MemberIndex())):
        for key, value in start.items():
            table[key] = value
        assert [_windows.count_up(table, "new") for _ in range(2)] == [1, 2]
        got = {key: _windows.count_up(table, key) for key in start}
        assert got == {"f": 3.5, "b": 2, "top": 1 << 63, "big": (1 << 70) + 1}
        assert type(got["b"]) is int and dict(table.items()) == {**got, "new": 2}
        py: dict = dict(start)
        assert [helpers.python_count_up(py, key) for key in start] == list(got.values())
    # A column keyed by 1-tuples (a count `by user`, stored by the member inside the key): counted
    # where the member's row lies, as in a dict of 1-tuples.
    wrapped = Column(MemberIndex(), True)
    assert [_windows.count_up(wrapped, ("m",)) for _ in range(3)] == [1, 2, 3]
    assert wrapped.items() == [(("m",), 3)] and len(wrapped) == 1
    assert helpers.count_up is _windows.count_up


class _Meddler:
    """Equal to every _Meddler, and its == adds to the window it is compared in and drops the
    window from its table: a read must answer with some count and leave a table that still works."""

    def __init__(self, table):
        self.table = table

    def __eq__(self, other):
        window = self.table.pop("k", None)
        if window is not None:
            for t in range(20):
                window.add(t, _Meddler(self.table))
        return True

    __hash__ = lambda self: 7


def test_a_read_survives_a_value_that_changes_the_window_it_is_compared_in():
    for read in ("distinct", "repeats"):
        table: dict = {}
        for ts in range(3):
            _windows.add_window(table, "k", "repeats", ts, _Meddler(table))
        got = (_windows.window_distinct(table, "k", 3, 100) if read == "distinct"
               else _windows.window_repeats(table, "k", 3, 100, _Meddler(table)))
        assert type(got) is int and got >= 1 and "k" not in table
        _windows.add_window(table, "k", "repeats", 5, "x")
        assert _windows.window_repeats(table, "k", 5, 100, "x") == 1


class _Saboteur:
    """A Python window whose evict takes other keys out of the table it is swept in, as a
    finaliser run by the sweep could."""

    def __init__(self, table, victims):
        self.table, self.victims = table, victims

    def evict(self, low):
        for key in self.victims:
            self.table.pop(key, None)

    def __len__(self):
        return 0


def test_the_sweep_survives_a_window_that_changes_its_table_and_leaves_what_python_leaves():
    # Keys a..e in a dict and in a column, swept at 10: a's times (5) are over, b's (12) not;
    # c's window empties itself and takes a (judged already, to go), d and e (not yet judged)
    # with it. Python's evict_all walks a list of the keys and skips those gone; the C walk reads
    # the table in place: both leave b alone.
    for make in (dict, lambda: Column(MemberIndex())):
        states = []
        for evict_all in (PY["evict_all"], _windows.evict_all):
            table = make()
            _windows.add_count(table, "a", 5, 100)
            _windows.add_count(table, "b", 12, 100)
            table["c"] = _Saboteur(table, ["a", "d", "e"])
            _windows.add_count(table, "d", 5, 100)
            _windows.add_count(table, "e", 12, 100)
            evict_all(table, 10)
            states.append({key: list(value) for key, value in table.items()})
        assert states[0] == states[1] == {"b": [12]}


def test_a_window_of_strings_and_numbers_is_out_of_the_collectors_sight_and_one_in_a_cycle_is_collected():
    # Windows of texts and members are walked by no collection (a window holds what events carry:
    # strings and numbers lead nowhere); one that takes a value which could lead back to it is
    # watched again, and a cycle through it is collected.
    import gc
    import weakref
    for kind in ("distinct", "sum", "similar"):
        w = _windows.Window(kind)
        for ts in range(40):                                 # past a counted window's small ring
            w.add(ts, ts if kind == "sum" else f"u{ts % 7}")
        assert not gc.is_tracked(w), kind

    class Holder:
        pass
    held = Holder()
    w = _windows.Window("distinct")
    w.add(1, "u1")
    w.add(2, held)
    assert gc.is_tracked(w)
    held.window = w                                         # held → w → held
    gone = weakref.ref(held)
    del held, w
    gc.collect()
    assert gone() is None

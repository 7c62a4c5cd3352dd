"""Member-keyed columns (runtime/_columns.c) hold what dicts would, and a program whose member-keyed
tables are columns decides what one with dicts decides."""
from __future__ import annotations

import gc
import io
import subprocess
import sys

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import load_paths
from policyengine.logs import OpenLog
from policyengine.replay import ReplayStats, replay
from policyengine.runtime._columns import Column, MemberIndex, ahead
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.store import MemoryStore
from policyengine.state import snapshot
from tests.conftest import ROOT

# Keys as tables meet them: member names (a fresh but equal string object each time, as decoding
# makes them), Chinese ones, and a few of other types. Not keys equal across types (1, 1.0, True):
# a column lists a row by the key the index met first, which for those would be another type than
# a dict lists — and a member-keyed table only ever has strings (`user` is one on every event).
_KEYS = st.sampled_from(["u1", "u2", "成员", "", 1, 0, None, ("u1",)])
_OPS = st.lists(st.tuples(st.sampled_from(["set", "get", "del", "pop", "pop default", "setdefault", "in", "len",
                                           "items", "clear", "sweep"]),
                          st.integers(0, 1), _KEYS, st.integers(-2, 2)), max_size=60)


def _fresh(key):
    """An equal key that is another object, where the type has such (strings)."""
    return "".join(list(key)) if isinstance(key, str) and key else key


@settings(max_examples=300, deadline=None)
@given(_OPS)
def test_columns_of_one_index_do_what_dicts_do(ops):
    index = MemberIndex()
    columns, dicts = [Column(index), Column(index)], [{}, {}]
    for op, which, key, value in ops:
        results = []
        for table in (columns[which], dicts[which]):
            k = _fresh(key)
            try:
                if op == "set":
                    table[k] = value
                    got = None
                elif op == "get":
                    got = (table.get(k), table.get(k, "missing"), table[k] if k in table else "absent")
                elif op == "del":
                    del table[k]
                    got = None
                elif op == "pop":
                    got = table.pop(k)
                elif op == "pop default":
                    got = table.pop(k, "missing")
                elif op == "setdefault":
                    got = table.setdefault(k, value)
                elif op == "in":
                    got = k in table
                elif op == "len":
                    got = (len(table), bool(table))
                elif op == "items":
                    got = (sorted(map(repr, table.items())), sorted(map(repr, table)), sorted(map(repr, table.values())))
                elif op == "clear":
                    table.clear()
                    got = None
                else:                           # the store's sweep: delete while walking a list of the keys
                    for held in list(table):
                        if table[held] <= value:
                            del table[held]
                    got = None
            except KeyError as err:
                got = ("KeyError", repr(err.args[0]))
            results.append(got)
        assert results[0] == results[1], (op, key, value)
        assert columns[0] == dicts[0] and columns[1] == dicts[1]
        assert dict(columns[0].items()) == dicts[0] and columns[1].to_dict() == dicts[1]
    # The index has a row for every key either column was ever given, however many columns hold it.
    assert len(index) <= len({repr(k) for k in ("u1", "u2", "成员", "", 1, 0, None, ("u1",))})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "in", "discard", "len", "keys"]), _KEYS), max_size=40))
def test_a_column_used_as_a_set_of_members_does_what_a_set_does(ops):
    """`once per user`: `key in table`, `table.add(key)`, and its keys in a state file."""
    index = MemberIndex()
    column, plain = Column(index), set()
    Column(index)["other"] = 1                      # rows other columns made do not show here
    for op, key in ops:
        k = _fresh(key)
        if op == "add":
            column.add(k)
            plain.add(k)
        elif op == "discard":
            column.pop(k, None)
            plain.discard(k)
        elif op == "in":
            assert (k in column) == (k in plain)
        elif op == "len":
            assert len(column) == len(plain)
        else:
            assert set(column) == plain


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["set", "get", "del", "pop", "in", "items", "replace"]),
                          st.sampled_from(["u1", "u2", "成员"]), st.integers(0, 3)), max_size=40))
def test_a_column_of_one_tuples_does_what_a_dict_of_them_does(ops):
    """Silences by member: keyed by `(member,)` outside, by the member's row inside."""
    from policyengine.runtime._points import replace_pair
    index = MemberIndex()
    Column(index)["u2"] = 0                         # a row another column made first
    column, plain = Column(index, True), {}
    for op, member, value in ops:
        results = []
        for table in (column, plain):
            key = (_fresh(member),)
            try:
                if op == "set":
                    table[key] = (value, 0)
                    got = None
                elif op == "get":
                    got = (table.get(key), table.get((member, "x")), table.get(member))
                elif op == "del":
                    del table[key]
                    got = None
                elif op == "pop":
                    got = table.pop(key, None)
                elif op == "in":
                    got = (key in table, member in table)
                elif op == "items":
                    got = sorted(table.items())
                else:                                       # a running silence re-armed in place
                    got = replace_pair(table, key, value, 1)
            except KeyError as err:
                got = ("KeyError", err.args[0])
            results.append(got)
        assert results[0] == results[1], (op, member, value)
        assert column == plain and column.to_dict() == plain


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_KEYS, st.integers(-2, 2)), max_size=12), st.dictionaries(_KEYS, st.integers(-2, 2), max_size=8),
       st.booleans())
def test_a_columns_update_is_each_item_set_in_turn(before, held, unwrap):
    # Column.update(dict), which fills a table restored from a state file, against the definition:
    # `column[key] = value` for each item in the dict's order, on a column that already holds some.
    index = MemberIndex()
    mine, theirs = Column(index, unwrap), Column(index, unwrap)
    keys = [k if not unwrap else (k,) for k in held]
    held = dict(zip(keys, held.values()))
    for key, value in before:
        key = key if not unwrap else (key,)
        mine[key] = theirs[key] = value
    mine.update(held)
    for key, value in held.items():
        theirs[key] = value
    assert mine.items() == theirs.items() and len(mine) == len(theirs)
    assert mine.to_dict() == {**dict(before if not unwrap else [((k,), v) for k, v in before]), **held}


def test_a_column_lists_its_keys_in_the_order_the_index_first_met_them():
    index = MemberIndex()
    first, second = Column(index), Column(index)
    second["b"] = 1                 # rows: b 0, a 1, c 2
    first["a"] = 1
    first["c"] = 2
    first["b"] = 3                  # a dict would list b last; the column lists it by its row
    assert list(first) == ["b", "a", "c"]
    assert first.items() == [("b", 3), ("a", 1), ("c", 2)]
    del first["b"]
    first["b"] = 4                  # deleted and set again: still its row
    assert list(first) == ["b", "a", "c"]
    assert list(second) == ["b"] and len(index) == 3


def test_an_index_that_grows_keeps_every_row():
    """Past its first 64 slots the index is rebuilt, again and again: every key keeps its row."""
    index = MemberIndex()
    first, second = Column(index), Column(index)
    for i in range(10_000):
        first[f"m{i}"] = i
        if i % 3 == 0:
            second[f"m{i}"] = -i
    assert len(index) == 10_000 and len(first) == 10_000 and len(second) == 3_334
    assert all(first[f"m{i}"] == i for i in range(10_000))
    assert all(second.get(f"m{i}") == (-i if i % 3 == 0 else None) for i in range(10_000))
    assert list(first) == [f"m{i}" for i in range(10_000)]


def test_an_index_past_its_huge_page_size_keeps_every_row_and_frees_itself():
    """Past 4 MiB of slots (~175 000 members) the index's slots are a mapping of their own, marked
    for huge pages (runtime/_huge.h), and each rebuild frees the last: every key keeps its row
    through the rebuilds either side of that size, and indexes made and dropped again and again
    give their memory back (a mapping freed as PyMem's, or the other way, would crash or grow)."""
    import resource
    n = 400_000
    for round_ in range(3):
        index = MemberIndex()
        column = Column(index)
        for i in range(n):
            column[f"m{i}"] = i
        assert len(index) == n and all(column[f"m{i}"] == i for i in range(0, n, 997))
        assert column.get(f"m{n}") is None and column[f"m{n - 1}"] == n - 1
        if round_ == 0:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del column, index
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < peak + 12 * 1024     # kB: 16 MB of slots a round


HAVE_GC = 1 << 14                   # Py_TPFLAGS_HAVE_GC: a type the cycle collector knows


def walked(value) -> bool:
    """Whether the collector must be shown a value a column holds: of a collected type, unless a
    list or tuple of one or more atoms (values of types it does not know), which the column takes
    out of its sight."""
    if not type(value).__flags__ & HAVE_GC:
        return False
    return not (type(value) in (list, tuple) and value and not any(type(v).__flags__ & HAVE_GC for v in value))


def value_of(kind: int, member: int):
    """A value of one of the kinds state holds: an int, a member's row, active days, a pair, a
    list that holds a pair, an empty list, a dict, a tuple that holds a list."""
    return [member, [member, member, 1], [member], (member, "x"), [(member,)], [], {"n": member},
            ([member],)][kind]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["set", "set", "count", "del", "pop", "clear"]), st.integers(0, 1),
                          st.integers(0, 299), st.integers(0, 7)), max_size=400))
def test_a_column_lists_what_it_holds_however_many_rows_lie_between(ops):
    # Members over 300 rows (a column's `present` bits: words of 64, grown as rows come), set,
    # counted up (_windows.count_up, as a count's update stores its int), deleted and popped anywhere; the
    # oracle is a dict of each column, counted up by helpers.python_count_up, listed in the order
    # the index first met each key (a row is never given back).
    from policyengine.runtime import _windows, helpers
    index = MemberIndex()
    columns, dicts, met = [Column(index), Column(index)], [{}, {}], {}
    for op, which, member, kind in ops:
        key = f"m{member}"
        column, table = columns[which], dicts[which]
        if op == "set":
            met.setdefault(key, len(met))
            column[key] = table[key] = value_of(kind, member)
        elif op == "count":
            if type(table.get(key, 0)) is int:          # what a count holds (a row's list would raise)
                met.setdefault(key, len(met))
                assert _windows.count_up(column, key) == helpers.python_count_up(table, key)
        elif op == "clear":
            column.clear()
            table.clear()
        elif key in table:
            assert (column.pop(key) if op == "pop" else column.__delitem__(key)) == (
                table.pop(key) if op == "pop" else table.__delitem__(key))
        for column, table in zip(columns, dicts):
            in_rows = sorted(table, key=met.__getitem__)
            assert list(column) == in_rows and len(column) == len(table)
            assert column.items() == [(k, table[k]) for k in in_rows]
            assert column.values() == [table[k] for k in in_rows]
            assert list(column.to_dict().items()) == [(k, table[k]) for k in in_rows]
            # what the cycle collector is shown: the values it must walk, each once; a list of
            # atoms is out of its sight altogether
            assert sorted(map(id, gc.get_referents(column))) == sorted(id(v) for v in table.values() if walked(v))
            assert all(gc.is_tracked(v) for v in table.values() if type(v) in (list, tuple) and walked(v))
            assert not any(gc.is_tracked(v) for v in table.values() if type(v) in (list, tuple) and not walked(v))


# A finaliser that empties rows 100-199 runs in the cycle collector, which the first tuple a listing
# makes sets off (threshold 1); the column lists what it holds by bits read a word at a time.
_EMPTIED_MID_WALK = """
import gc, sys
from policyengine.runtime._columns import Column, MemberIndex
column = Column(MemberIndex(), sys.argv[1] == "to_dict")
key = (lambda i: (f"m{i}",)) if sys.argv[1] == "to_dict" else (lambda i: f"m{i}")
for i in range(200):
    column[key(i)] = i
class Emptier:
    def __del__(self):
        for i in range(100, 200):
            del column[key(i)]
gc.collect()
gc.disable()
cycle = Emptier()
cycle.me = cycle
del cycle
gc.enable()
gc.set_threshold(1)
listed = column.items() if sys.argv[1] == "items" else list(column.to_dict().items())
gc.set_threshold(700)
print(len(column), listed == [(key(i), i) for i in range(100)])
"""


def test_a_column_emptied_by_a_finaliser_while_it_is_listed_lists_what_is_left():
    for how in ("items", "to_dict"):
        done = subprocess.run([sys.executable, "-c", _EMPTIED_MID_WALK, how], capture_output=True, text=True,
                              cwd=ROOT, timeout=60)
        assert done.returncode == 0, (how, done.returncode, done.stderr[-500:])
        assert done.stdout.split() == ["100", "True"], how


def _log(events: int) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in generate(events, seed=5)) + b"\n"


def _decisions(store: MemoryStore, data: bytes):
    compiled = compile_program(load_paths([str(ROOT / "policies/community")]).program)
    evaluator = Evaluator(compiled, store)
    out, reports, stats = [], [], ReplayStats()
    replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), evaluator,
           EventDecoder(compiled.plan.field_types), out.append, reports.append, stats)
    return out, reports, evaluator


def test_the_community_pack_decides_the_same_on_columns_and_on_dicts():
    data = _log(15_000)
    on_columns, reports, evaluator = _decisions(MemoryStore(), data)
    on_dicts, plain_reports, plain_evaluator = _decisions(MemoryStore(columns=False), data)
    assert on_columns == on_dicts and reports == plain_reports == []
    assert len(on_columns) > 5_000
    # It means something only if the pack's member-keyed tables were columns, and the others not:
    # `count(message by user)` is, `distinct(user of message by normalize(text) …)` keyed by text is not.
    store = evaluator.store
    kinds = {spec.source: type(store.counts.get(spec.fingerprint, store.windows.get(spec.fingerprint))).__name__
             for spec in evaluator.compiled.plan.aggregates}
    assert kinds["count(message by user)"] == "Column"
    assert kinds["distinct(user of message by normalize(text) within 10m)"] == "dict"
    assert type(store.cooldowns["community/points_for_messages"]).__name__ == "Column"
    assert type(store.once["community/contributor"]).__name__ == "Column"          # once per user
    assert {type(t).__name__ for t in store.absence.values()} == {"Column"}         # silences by user
    assert type(store.once["community/checkin_points"]).__name__ == "set"          # once per user, date
    assert type(store.members).__name__ == type(store.ledgers["points"]).__name__ == "Column"
    plain_store = plain_evaluator.store
    assert {type(t).__name__ for t in (*plain_store.counts.values(), *plain_store.windows.values(),
                                       *plain_store.cooldowns.values(), plain_store.members,
                                       *plain_store.ledgers.values(), *plain_store.absence.values())} == {"dict"}
    # State files hold dicts, whichever the tables were; restored, member-keyed tables are columns
    # again, holding the same.
    rows = snapshot.capture(store, evaluator.compiled)
    plain_rows = snapshot.capture(plain_evaluator.store, plain_evaluator.compiled)
    assert all(type(row.value) is not Column for row in rows)
    assert {(r.section, r.name): r.value for r in rows if r.section in ("count", "window", "cooldown")}.keys() == \
        {(r.section, r.name): r.value for r in plain_rows if r.section in ("count", "window", "cooldown")}.keys()
    restored, dropped = snapshot.restore(rows, evaluator.compiled)
    again = Evaluator(evaluator.compiled, restored)
    assert dropped == []
    assert type(again.store.once["community/contributor"]) is Column
    assert set(again.store.once["community/contributor"]) == set(plain_store.once["community/contributor"]) != set()
    counts = again.store.counts[next(s.fingerprint for s in again.compiled.plan.aggregates
                                     if s.source == "count(message by user)")]
    assert type(counts) is Column and counts == plain_evaluator.store.counts[next(
        s.fingerprint for s in again.compiled.plan.aggregates if s.source == "count(message by user)")]
    # Silences come back as columns of `(member,)` keys, holding what the dict-keeping run held.
    assert plain_store.absence and all(type(again.store.absence[i]) is Column and again.store.absence[i] == table
                                       for i, table in plain_store.absence.items())
    assert sum(map(len, plain_store.absence.values())) > 100


# A message asks memory for its member's row in every column of the index at once (member_seen
# prefetches it), so the index lists its columns and each column leaves that list as it goes: a
# dead column left in it would be read after its memory was freed. Under Python's debug allocator
# freed memory is overwritten with 0xDD, so reading a dead column there crashes, not passes by luck.
_PREFETCH_AFTER_DEATH = """
import gc, sys
from policyengine.runtime._columns import Column, MemberIndex
from policyengine.runtime import _points
index = MemberIndex()
members = Column(index)
counts = [index.columns]
kept = [Column(index) for _ in range(40)]
dropped = [Column(index) for _ in range(40)]
for i, c in enumerate(kept + dropped):
    c["u"] = i
    c["v"] = (i, i)
counts.append(index.columns)
del dropped, c
gc.collect()
counts.append(index.columns)
for ts in (10, 20, 30):
    _points.member_seen(members, "u", ts)
_points.member_seen(members, "v", 40)
print(counts, members["u"], members["v"], [k["u"] for k in kept[::13]])
"""


def test_the_index_lists_its_live_columns_and_prefetching_reads_no_dead_one():
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONMALLOC="debug")
    done = subprocess.run([sys.executable, "-c", _PREFETCH_AFTER_DEATH], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    # by hand: `members` and 80 more columns; 40 dropped leave 41; the member's row is
    # [first seen, joined, messages] = [10, 10, 3] after three messages, [40, 40, 1] for a new one
    assert done.stdout.split("\n")[0] == "[1, 81, 41] [10, 10, 3] [40, 40, 1] [0, 13, 26, 39]"


# `ahead` (the rows of the next lines' members asked of memory) hands on exactly the lines it is
# given, whatever they hold: it only reads them.
_LINES = st.lists(st.one_of(
    st.none(),
    st.binary(max_size=80),
    st.sampled_from([b'{"type":"message","user":"m1","ts":1}', b'{"user": "m2"}', b'{"user":"m\\u0031"}',
                     b'{"user":"\xe6\x88\x90\xe5\x91\x98"}', b'{"user":', b'{"user":"unclosed', b'"user"',
                     b'{"user":17}', b'{"user":"m' + b"9" * 300 + b'"}']),
    st.builds(lambda n: b'{"type":"message","user":"m%d","text":"hi"}' % n, st.integers(0, 299))), max_size=300)


@settings(max_examples=150, deadline=None)
@given(_LINES)
def test_ahead_hands_on_every_line_as_it_is(lines):
    index = MemberIndex()
    column, other = Column(index), Column(index)
    for n in range(0, 300, 3):                  # members in the index, some with values in both columns
        column[f"m{n}"] = n
        if n % 2:
            other[f"m{n}"] = [n]
    assert list(ahead(index, lines)) == lines
    assert list(ahead(MemberIndex(), lines)) == lines          # an empty index: nothing found


def test_ahead_takes_only_a_member_index_and_a_list():
    for bad in ((MemberIndex(), (b"x",)), ({}, [b"x"]), (MemberIndex(),)):
        try:
            ahead(*bad)
        except TypeError as err:
            assert "ahead(index: MemberIndex, lines: list)" in str(err)
        else:
            raise AssertionError(f"ahead{bad!r} took its arguments")


def test_a_run_decides_the_same_with_its_lines_asked_for_ahead(monkeypatch):
    # AHEAD_MEMBERS 0: every chunk through `ahead`, from the first member on; the oracle is the
    # same run with it never used
    from policyengine import replay as replay_module
    from policyengine.runtime import store as store_module
    from tests.test_records import _log_bytes
    looked = []                                  # the chunks that went through `ahead`
    monkeypatch.setattr(replay_module, "ahead", lambda index, lines: looked.append(len(lines)) or ahead(index, lines))
    data = _log_bytes(6_000, seed=13)
    runs = []
    for least in (0, 1 << 62):
        monkeypatch.setattr(store_module, "AHEAD_MEMBERS", least)
        looked.clear()
        out, reports, _ = _decisions(MemoryStore(), data)
        runs.append(([dict(d) for d in out], reports, bool(looked)))
    assert runs[0][:2] == runs[1][:2] and len(runs[0][0]) > 100 and runs[0][1]
    assert runs[0][2] and not runs[1][2]


def test_an_index_is_crowded_from_ahead_members_on(monkeypatch):
    from policyengine.runtime import store as store_module
    monkeypatch.setattr(store_module, "AHEAD_MEMBERS", 3)
    store = MemoryStore()
    members = Column(store.member_index)
    for n in range(3):
        assert store.crowded_index() is None
        members[f"m{n}"] = n
    assert store.crowded_index() is store.member_index
    assert MemoryStore(columns=False).crowded_index() is None


def test_the_pack_keeps_its_members_rows_out_of_the_cycle_collectors_sight():
    # A member's [first seen, joined, messages] and active days are lists of ints: with many
    # members a full collection walked every one of them. Stored in a column they are untracked,
    # and the column shows the collector none of them; restored from a state file, the same.
    _, _, evaluator = _decisions(MemoryStore(), _log(5_000))
    store = evaluator.store
    rows = list(store.members.values())
    assert len(rows) > 100 and all(type(row) is list and len(row) == 3 for row in rows)
    assert not any(gc.is_tracked(row) for row in rows)
    assert gc.get_referents(store.members) == []
    lists = [t for t in store.counts.values() if type(t) is Column and t and type(next(iter(t.values()))) is list]
    assert len(lists) == 2                                  # active days, the check-in streak
    assert not any(gc.is_tracked(v) for t in lists for v in t.values())
    assert all(gc.get_referents(t) == [] for t in lists)
    # a ledger's (balance, time) pairs: tuples of ints, which CPython would untrack only once a
    # collection had walked them
    assert len(store.ledgers["points"]) > 100 and gc.get_referents(store.ledgers["points"]) == []
    restored, _ = snapshot.restore(snapshot.capture(store, evaluator.compiled), evaluator.compiled)
    assert restored.members == store.members and gc.get_referents(restored.members) == []


def test_a_list_that_holds_an_object_stays_in_the_collectors_sight():
    # A cycle through a column's list — the list holds an object that holds the list — is found
    # and freed once the column lets the list go; had the list been taken out of the collector's
    # sight, the object would live on.
    import weakref

    class Node:
        pass

    column = Column(MemberIndex())
    node = Node()
    node.back = column["u1"] = [node]
    alive = weakref.ref(node)
    del node
    del column["u1"]
    gc.collect()
    assert alive() is None


def test_a_timers_entry_is_out_of_the_collectors_sight_from_the_start():
    # Timeline.schedule settles each heap entry: a tuple of atoms and tuples of them is untracked
    # at once, as CPython's collector would untrack it after walking it (three a silence timer,
    # ~0.18 s of young collections over 1M events of 100 000 members). Anything else stays in sight.
    import gc

    from policyengine import Engine
    from policyengine.runtime._columns import settled
    engine = Engine.from_text('rule nudge { on absence(message by user for 1d) do notify(user, "hi") }')
    engine.process({"type": "message", "ts": 0, "user": "u", "text": "x"})
    timers = engine.evaluator.store.timers
    assert timers and all(not gc.is_tracked(t) and not gc.is_tracked(t[4]) and not gc.is_tracked(t[4][1])
                          for t in timers)
    listed = (1, "a", (2, [3]))
    assert settled(listed) is listed and gc.is_tracked(listed) and gc.is_tracked(listed[2])
    nested = (1, (2.5, None, ("x",)))
    assert settled(nested) is nested and not gc.is_tracked(nested) and not gc.is_tracked(nested[1][2])
    other = [1]
    assert settled(other) is other and gc.is_tracked(other)


def test_a_restored_timers_entry_is_out_of_the_collectors_sight_too(tmp_path):
    # A bot restarted from its state file holds every running silence again: restored entries are
    # settled as Timeline.schedule settles new ones, and fire as they would have.
    import gc

    from policyengine import Engine
    text = 'rule nudge { on absence(message by user for 1d) do notify(user, "hi") }'
    path = str(tmp_path / "state.db")
    with Engine.from_text(text, state=path) as engine:
        for i, user in enumerate(("u1", "u2", "u3")):
            engine.process({"type": "message", "ts": i, "user": user, "text": "x"})
    restored = Engine.from_text(text, state=path)
    timers = restored.evaluator.store.timers
    assert len(timers) == 3
    assert all(not gc.is_tracked(t) and not gc.is_tracked(t[4]) and not gc.is_tracked(t[4][1]) for t in timers)
    fired = restored.process({"type": "message", "ts": 86_400 + 1.5, "user": "u9", "text": "x"})
    assert sorted(d.user for d in fired if d.action == "notify") == ["u1", "u2"]
    restored.close()

"""Decisions out in C (output/_decisions.c) against their definitions: dump_lines writes what
orjson writes, byte for byte, and raises what orjson raises (dump_tagged too, each line after its
merge key); Tally counts what a Counter of
(policy, rule, action) counts."""
import sys
from collections import Counter
from operator import itemgetter

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.model import Decision
from policyengine.output import _decisions
from policyengine.output.decisions import PythonTally, merge_key, python_dump_lines, python_dump_tagged

# Every escape orjson writes (controls, quote, backslash), each UTF-8 length, DEL and U+2028
# (written raw) and lone surrogates (refused).
_CHARS = st.one_of(st.sampled_from(["a", "Z", " ", '"', "\\", "/", "\x00", "\x1f", "\b", "\t", "\n",
                                    "\f", "\r", "\x7f", "é", "加", "\u2028", "😀", "\ud800", "\udfff"]),
                   st.characters())
_TEXTS = st.text(_CHARS, max_size=40)


class _Str(str):
    pass


_VALUES = st.one_of(
    _TEXTS, st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),          # past int64: orjson's range and error
    st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
    _TEXTS.map(_Str), st.integers().map(lambda n: n % 2 == 0 and n),
)
_KEYS = st.one_of(_TEXTS, _TEXTS.map(sys.intern), st.sampled_from(["ts", "policy", "rule", "action"]))
_DECISIONS = st.lists(st.dictionaries(_KEYS, _VALUES, max_size=8), max_size=6)


def _outcome(dump, decisions):
    try:
        return dump(decisions)
    except TypeError as err:                       # orjson's own refusals, message and all
        return type(err), str(err)


@settings(max_examples=2000, deadline=None)
@given(_DECISIONS)
def test_c_dump_lines_writes_what_orjson_writes(decisions):
    expected = _outcome(lambda ds: b"".join(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in ds),
                        decisions)
    assert _outcome(_decisions.dump_lines, decisions) == expected
    assert _outcome(python_dump_lines, decisions) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=1500))
def test_c_dump_lines_writes_interned_strings_right_however_many(texts):
    # interned strings are written from a cache of 256 sets of two: many of them, repeated, evict and
    # refill it; each must still be written as itself
    texts = [sys.intern(t) for t in texts if not any("\ud800" <= c <= "\udfff" for c in t)]
    decisions = [{t: t} for t in texts] + [{t: t} for t in reversed(texts)]
    assert _decisions.dump_lines(decisions) == python_dump_lines(decisions)


_TAGS = st.tuples(*[st.one_of(st.integers(-2, 2), st.integers(-(2 ** 63), 2 ** 63 - 1))] * 4)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(_KEYS, _VALUES, max_size=6), _TAGS), max_size=6))
def test_c_dump_tagged_writes_each_line_after_its_merge_key(tagged):
    # a worker's spool: each line as dump_lines writes it alone, after its tag as merge_key writes
    # it (the definition; its ordering is tested in test_workers); orjson's refusals as orjson's
    decisions, tags = [d for d, _ in tagged], [t for _, t in tagged]
    expected = _outcome(lambda ds: b"".join(merge_key(t) + orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE)
                                            for d, t in zip(ds, tags)), decisions)
    assert _outcome(lambda ds: _decisions.dump_tagged(ds, tags), decisions) == expected
    assert _outcome(lambda ds: python_dump_tagged(ds, tags), decisions) == expected


def test_merge_keys_by_hand():
    # x + 2**63 in 16 hex digits, four times; a number past 64 bits, a tag of another length, or
    # tags fewer than the decisions, refused by both forms
    assert merge_key((0, -1, 2 ** 63 - 1, -(2 ** 63))) == (
        b"8000000000000000" b"7fffffffffffffff" b"ffffffffffffffff" b"0000000000000000")
    d = {"a": 1}
    assert _decisions.dump_tagged([d], [(1, 0, 10, 2)]) == (
        b"8000000000000001" b"8000000000000000" b"800000000000000a" b"8000000000000002" b'{"a":1}\n')
    for dump in (_decisions.dump_tagged, python_dump_tagged):
        with pytest.raises(OverflowError):
            dump([d], [(2 ** 63, 0, 0, 0)])
        with pytest.raises(OverflowError):
            dump([d], [(0, 0, 0, -(2 ** 63) - 1)])
        with pytest.raises(ValueError):
            dump([d, d], [(0, 0, 0, 0)])
    for tag in [(0, 0, 0), [0, 0, 0, 0], (0, 0, "0", 0)]:
        with pytest.raises(TypeError):
            _decisions.dump_tagged([d], [tag])
    assert _decisions.dump_tagged([], []) == b""


def test_dump_lines_by_hand():
    decisions = [
        {"ts": "2026-11-02T00:00:25.301Z", "policy": "community", "rule": "no_ads", "action": "delete",
         "user": "u1", "points": -3, "ok": True, "none": None},
        {"reason": '广告 "加微信"\n\\ \x01 😀'},
    ]
    assert _decisions.dump_lines(decisions) == (
        b'{"ts":"2026-11-02T00:00:25.301Z","policy":"community","rule":"no_ads","action":"delete",'
        b'"user":"u1","points":-3,"ok":true,"none":null}\n'
        + '{"reason":"广告 \\"加微信\\"\\n\\\\ \\u0001 😀"}\n'.encode())
    assert _decisions.dump_lines([]) == b""
    assert _decisions.dump_lines([{"n": -(2 ** 63)}, {"n": 2 ** 63 - 1}]) == (
        b'{"n":-9223372036854775808}\n{"n":9223372036854775807}\n')
    assert _decisions.dump_lines([{"f": 2.5, "l": [1]}]) == b'{"f":2.5,"l":[1]}\n'    # handed to orjson
    # past the buffer's first 64 KiB: one long decision, then many short ones after it
    long = [{"reason": "加" * 100_000 + "\n"}] + [{"n": i, "ts": "2026-11-02T00:00:00Z"} for i in range(5000)]
    assert _decisions.dump_lines(long) == python_dump_lines(long)
    with pytest.raises(TypeError, match="surrogates"):
        _decisions.dump_lines([{"a": "x"}, {"a": "\ud800"}])
    for key in (_Str("k"), 1, None):                               # keys orjson refuses, as it refuses them
        with pytest.raises(TypeError, match="Dict key must be str"):
            _decisions.dump_lines([{"a": 1, key: 1}])
    # any sequence, as the definition takes any iterable; not a lone decision
    assert _decisions.dump_lines(({"a": 1},)) == python_dump_lines(({"a": 1},)) == b'{"a":1}\n'
    with pytest.raises(TypeError):
        _decisions.dump_lines(7)


def test_dump_lines_escapes_each_ascii_character_wherever_it_stands():
    # ASCII text is copied eight bytes at a time between escapes: put each character that needs
    # one (and its neighbours that do not) at every place of a text longer than two such runs
    for code in range(0x80):
        for place in range(19):
            text = "a" * place + chr(code) + "b" * (18 - place)
            decisions = [{"text": text}]
            assert _decisions.dump_lines(decisions) == orjson.dumps(decisions[0], option=orjson.OPT_APPEND_NEWLINE)


_KEY = itemgetter("policy", "rule", "action")
_NAMES = st.sampled_from(["community", "reference", "no_ads", "points", "delete", "award_points"])


def _fresh(text: str) -> str:
    """An equal string that is a different object."""
    return "".join(list(text))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.tuples(_NAMES, _NAMES, _NAMES, st.booleans()), max_size=20), max_size=6),
       st.lists(st.integers(min_value=0, max_value=3), max_size=6))
def test_c_tally_counts_what_a_counter_counts(batches, drains_after):
    # equal strings held by different objects must count as one key
    lists = [[{"policy": p if same else _fresh(p), "rule": r, "action": a if same else _fresh(a), "x": 1}
              for p, r, a, same in batch] for batch in batches]
    expected = Counter(_KEY(d) for ds in lists for d in ds)
    for tally in (_decisions.Tally(), PythonTally()):
        counts = Counter()
        for i, ds in enumerate(lists):
            tally.add(ds)
            if i in drains_after:
                tally.drain(counts)
        tally.drain(counts)
        tally.drain(counts)                        # a second drain adds nothing
        assert +counts == expected


def test_tally_by_hand():
    tally = _decisions.Tally()
    ban = {"policy": "community", "rule": "violations", "action": "ban"}
    award = {"policy": "community", "rule": "points_for_messages", "action": "award_points"}
    tally.add([ban, award, award])
    counts = Counter({("community", "violations", "ban"): 10})       # counts from before add up
    tally.drain(counts)
    assert counts == {("community", "violations", "ban"): 11, ("community", "points_for_messages", "award_points"): 2}
    tally.add([award])
    plain: dict = {}
    tally.drain(plain)                             # a plain dict takes the counts too
    assert plain == {("community", "points_for_messages", "award_points"): 1}
    # a mapping that is not a dict is read as itemgetter reads it
    decision = Decision(ts="2026-11-02T00:00:00Z", policy="p", rule="r", action="warn")
    tally.add([decision])
    counts = Counter()
    tally.drain(counts)
    assert counts == {("p", "r", "warn"): 1}
    with pytest.raises(KeyError, match="action"):
        tally.add([{"policy": "p", "rule": "r"}])
    with pytest.raises(TypeError):
        _decisions.Tally(1)
    tally.add((ban,))                                              # any sequence
    with pytest.raises(TypeError):
        tally.add(7)
    counts = Counter()
    tally.drain(counts)
    assert counts == {("community", "violations", "ban"): 1}


def test_tally_survives_a_mapping_that_empties_the_list_it_is_in():
    # reading a mapping that is not a dict runs its code; the decision being read stays alive
    decisions: list = []

    class Emptying(dict):
        def __getitem__(self, key):
            decisions.clear()
            return dict.__getitem__(self, key)

    decisions.extend([Emptying(policy="p", rule="r", action="a"), {"policy": "p", "rule": "r", "action": "b"}])
    tally = _decisions.Tally()
    tally.add(decisions)
    counts = Counter()
    tally.drain(counts)
    assert counts == {("p", "r", "a"): 1}              # the second was gone before it was read


# ---- decision records: what the C giver makes ---------------------------------------------------
_AWARDS = """policy perks "points"
points points { cap 3 per day }
rule talk { on message do award_points(2) reason "for talking" }
rule back { on absence(message by user for 1h) do award_points(1) }
"""


def _record(*fields, user="u1", event_id="e1"):
    return _decisions.record("2026-11-02T00:00:00Z", "perks", "talk", "award_points", user, event_id, fields)


def test_a_record_reads_as_the_dict_it_stands_for():
    record = _record(("points", 2), ("balance", 5.5), ("reason", "为什么"))
    as_dict = {"ts": "2026-11-02T00:00:00Z", "policy": "perks", "rule": "talk", "action": "award_points",
               "user": "u1", "event_id": "e1", "points": 2, "balance": 5.5, "reason": "为什么"}
    assert record == as_dict and not record != as_dict and as_dict == record
    assert list(record) == list(record.keys()) == list(as_dict)                # keys in the dict's order
    assert list(record.items()) == list(as_dict.items()) and list(record.values()) == list(as_dict.values())
    assert len(record) == 9 and record["balance"] == 5.5 and record.get("nope", 7) == 7 and record.get("user") == "u1"
    assert "reason" in record and "nope" not in record and 3 not in record
    assert type(record.to_dict()) is dict and record.to_dict() == as_dict and record.copy() == as_dict
    assert repr(record) == repr(as_dict)
    with pytest.raises(KeyError):
        record["nope"]
    with pytest.raises(TypeError):
        hash(record)
    import pickle
    assert pickle.loads(pickle.dumps(record)) == as_dict and type(pickle.loads(pickle.dumps(record))) is dict
    # absent user and event id are absent keys, as helpers.decision leaves them out
    bare = _record(("points", 1), user=None, event_id=None)
    assert bare == {"ts": "2026-11-02T00:00:00Z", "policy": "perks", "rule": "talk", "action": "award_points",
                    "points": 1} and "user" not in bare and len(bare) == 5


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), _TEXTS), st.one_of(st.none(), _TEXTS),
                          st.lists(st.tuples(st.sampled_from(["points", "balance", "currency", "reason"]), _VALUES),
                                   max_size=4, unique_by=lambda field: field[0])), max_size=5))
def test_c_dump_lines_writes_records_as_orjson_writes_their_dicts(rows):
    records = [_record(*fields, user=user, event_id=event_id) for user, event_id, fields in rows]
    dicts = [r.to_dict() for r in records]
    assert _outcome(_decisions.dump_lines, records) == _outcome(python_dump_lines, dicts)
    tally, counts, expected = _decisions.Tally(), Counter(), Counter(map(_KEY, dicts))
    tally.add(records)
    tally.drain(counts)
    assert +counts == expected


_NAME_TEXTS = st.one_of(_TEXTS.map(sys.intern), _TEXTS, st.sampled_from(["community", "no_ads", "delete"]).map(sys.intern))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_NAME_TEXTS, _NAME_TEXTS, _NAME_TEXTS, st.lists(st.tuples(st.sampled_from(
    ["points", "reason"]), _VALUES), max_size=2, unique_by=lambda field: field[0])), max_size=200))
def test_c_dump_lines_writes_each_records_names_as_themselves_however_many(rows):
    # A record's policy, rule and action are written from a cache of 64 runs kept by the three
    # strings' addresses when all three are interned: many triples, repeated, evict and refill it,
    # and strings that are not interned (or not encodable) are written apart.
    records = [_decisions.record("2026-11-02T00:00:00Z", policy, rule, action, "u1", None, tuple(fields))
               for policy, rule, action, fields in rows + rows[::-1]]
    dicts = [r.to_dict() for r in records]
    assert _outcome(_decisions.dump_lines, records) == _outcome(python_dump_lines, dicts)


def test_a_records_names_by_hand():
    names = [sys.intern(f"rule_{i}") for i in range(200)]
    records = [_decisions.record("2026-11-02T00:00:00Z", "p", name, "delete", "u1", None, ()) for name in names * 2]
    lines = _decisions.dump_lines(records).splitlines()
    assert lines[0] == b'{"ts":"2026-11-02T00:00:00Z","policy":"p","rule":"rule_0","action":"delete","user":"u1"}'
    assert lines[399] == b'{"ts":"2026-11-02T00:00:00Z","policy":"p","rule":"rule_199","action":"delete","user":"u1"}'
    assert [orjson.loads(line)["rule"] for line in lines] == names * 2
    fresh = _decisions.record("2026-11-02T00:00:00Z", "p", _fresh("rule_0"), "delete", "u1", None, ())
    assert _decisions.dump_lines([fresh]) == lines[0] + b"\n"


def test_materialize_makes_records_dicts_in_place():
    record, plain = _record(("points", 1)), {"policy": "p", "rule": "r", "action": "a"}
    decisions = [plain, record]
    _decisions.materialize(decisions)
    assert decisions[0] is plain and type(decisions[1]) is dict and decisions[1] == record


def test_the_evaluator_hands_its_callers_dicts():
    # the C giver makes records; process and advance (what the embedding API and `policyengine
    # test` read) give dicts, from a rule and from a timer alike
    from policyengine.compiler import compile_program
    from policyengine.loader import load_text
    from policyengine.runtime.evaluator import Evaluator
    evaluator = Evaluator(compile_program(load_text([("a.policy", _AWARDS)]).program))
    hour = 3_600_000_000
    first = evaluator.process({"type": "message", "user": "u1", "id": "e1", "text": "hi"}, 10 * hour)
    later = evaluator.process({"type": "message", "user": "u2", "id": "e2", "text": "hi"}, 12 * hour)
    end = evaluator.advance(14 * hour)
    made = first + later + end
    assert [(d["rule"], d["user"], d["points"]) for d in made] == [
        ("talk", "u1", 2), ("back", "u1", 1), ("talk", "u2", 2), ("back", "u2", 1)]
    assert all(type(d) is dict for d in made)


_RUN_AWARDS = """
import sys, json
if sys.argv[1] == "without":
    sys.modules["policyengine.output._decisions"] = None     # as if it had not been built
from policyengine.compiler import compile_program
from policyengine.loader import load_text
from policyengine.runtime import rewards
from policyengine.runtime.evaluator import Evaluator
assert rewards._points is not None                            # the C giver either way
evaluator = Evaluator(compile_program(load_text([("a.policy", sys.stdin.read())]).program))
hour = 3_600_000_000
made = []
for i in range(6):
    made += evaluator.process({"type": "message", "user": f"u{i % 2}", "id": f"e{i}", "text": "hi"}, (10 + i) * hour)
made += evaluator.advance(30 * hour)
print(json.dumps([[type(d).__name__, d] for d in made]))
"""


def test_the_c_giver_makes_the_same_dicts_without_records():
    # where output/_decisions is not built the C giver fills a dict from its template instead
    import json
    import subprocess
    import sys
    runs = [subprocess.run([sys.executable, "-c", _RUN_AWARDS, which], input=_AWARDS, capture_output=True,
                           text=True, check=True).stdout for which in ("with", "without")]
    assert runs[0] == runs[1]
    made = json.loads(runs[0])
    assert {kind for kind, _ in made} == {"dict"}
    # by hand: a cap of 3 a day for both rules; u0 talks at 10 h (+2), is back by 11 h (+1, the
    # cap reached), u1 the same an hour later; every later award of the day is 0 and decides
    # nothing, and the pending returns fall due on the first day too
    assert [(d["rule"], d["user"], d["points"], d["balance"], d.get("event_id")) for _, d in made] == [
        ("talk", "u0", 2, 2, "e0"), ("back", "u0", 1, 3, None), ("talk", "u1", 2, 2, "e1"), ("back", "u1", 1, 3, None)]
    assert made[0][1]["reason"] == "for talking" and "reason" not in made[1][1]


# ---- decisions made by the generated code: DecisionMaker against helpers.python_decision --------
_NAMES_OF_FIELDS = st.sampled_from(["message_id", "duration_s", "role", "reason", "user", "ts", "points", "x"])
_FIELDS = st.lists(st.tuples(_NAMES_OF_FIELDS, st.one_of(st.none(), _VALUES)), max_size=8).map(tuple)
_TIMES = st.one_of(st.integers(min_value=-(2 ** 62), max_value=2 ** 62),      # years past 9999 and before 1000
                   st.integers(min_value=0, max_value=4_102_444_800_000_000))  # 1970–2100


@settings(max_examples=1500, deadline=None)
@given(_TIMES, st.one_of(_NAMES, st.none()), st.one_of(st.none(), _TEXTS), st.one_of(st.none(), _TEXTS),
       _FIELDS, st.one_of(st.none(), _TEXTS))
def test_c_decision_makes_what_the_definition_makes(ts, action, user, event_id, fields, reason):
    from policyengine.runtime import helpers
    args = (ts, "community", "no_ads", action, user, event_id, fields, reason)
    try:
        expected = helpers.python_decision(*args)
    except OverflowError as err:                   # a time outside the calendar: the same error
        with pytest.raises(OverflowError, match=str(err)):
            helpers.decision(*args)
        return
    made = helpers.decision(*args)
    assert type(made) in (dict, _decisions.Record)
    # a record made at a time in microseconds writes it out only when written or read: each way
    # of reading it first, on a fresh record
    line = _outcome(python_dump_lines, [expected])
    assert _outcome(_decisions.dump_lines, [made]) == line
    assert len(helpers.decision(*args)) == len(expected)
    read, wanted = helpers.decision(*args)["ts"], expected["ts"]
    assert read is wanted or read == wanted                 # a field named ts may be NaN, the same object
    assert helpers.decision(*args) == expected
    assert made == expected and list(made.items()) == list(expected.items())      # keys in the same order
    assert _outcome(_decisions.dump_lines, [made]) == line                        # its time now a str


def test_c_decision_by_hand():
    from policyengine.runtime import helpers
    ts = 1_762_041_625_301_000                                   # 2025-11-02T00:00:25.301Z
    made = helpers.decision(ts, "community", "no_ads", "delete", "u1", "e1", (("message_id", "e1"),), "广告")
    assert type(made) is _decisions.Record and list(made.items()) == [
        ("ts", "2025-11-02T00:00:25.301Z"), ("policy", "community"), ("rule", "no_ads"), ("action", "delete"),
        ("user", "u1"), ("event_id", "e1"), ("message_id", "e1"), ("reason", "广告")]
    # a field named as a key the decision already has: the definition's dict, the later value kept
    twice = helpers.decision(ts, "p", "r", "a", None, None, (("role", 1), ("role", 2)), None)
    assert type(twice) is dict and twice["role"] == 2 and "user" not in twice
    # more fields than a record holds: a dict
    many = helpers.decision(ts, "p", "r", "a", None, None, tuple((f"f{i}", i) for i in range(7)), None)
    assert type(many) is dict and list(many)[-1] == "f6"
    # a year before 1000 is format_ts's to write (format_us says None)
    from datetime import datetime, timedelta, timezone
    early = (datetime(500, 3, 1, 12, tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)) // \
        timedelta(microseconds=1)
    old = helpers.decision(early, "p", "r", "a", None, None, (), None)
    assert type(old) is _decisions.Record and old["ts"].startswith("500-03-01T12:00:00")
    # the edges of the years a record writes itself, 1000-01-01 and 9999-12-31, each side
    first = (datetime(1000, 1, 1, tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)) // \
        timedelta(microseconds=1)
    last = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
            - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    for us in (first - 1, first, first + 1, last - 1, last):
        args = (us, "p", "r", "a", None, None, (), None)
        fresh, expected = helpers.decision(*args), helpers.python_decision(*args)
        assert _decisions.dump_lines([fresh]) == python_dump_lines([expected])
        assert helpers.decision(*args)["ts"] == expected["ts"]             # each edge, both sides
    assert helpers.decision(first, "p", "r", "a", None, None, (), None)["ts"] == "1000-01-01T00:00:00Z"
    assert helpers.decision(last, "p", "r", "a", None, None, (), None)["ts"] == "9999-12-31T23:59:59.999999Z"
    with pytest.raises(OverflowError):                      # past the calendar, as the definition says
        helpers.decision(last + 1, "p", "r", "a", None, None, (), None)

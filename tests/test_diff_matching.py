"""`diff` matches the two versions' decisions batch by batch as they replay (cli/diff_cmd.py).
Whatever the batches, the outcome must be the whole lists' one: per identity, the k-th decision of
one version against the k-th of the other; the rest added or removed. The oracle is that rule,
written out over whole lists."""
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.cli.diff_cmd import Comparison, _identity

_DECISION = st.builds(lambda e, rule, user, value: {"ts": "t", "policy": "p", "rule": rule, "action": "warn",
                                                     "user": user, "event_id": e, "value": value},
                      st.sampled_from(["e1", "e2", "e3"]), st.sampled_from(["r", "s"]),
                      st.sampled_from(["a", "b"]), st.integers(0, 1))


def matched_by_hand(old: list[dict], new: list[dict], same=lambda x, y: x["value"] == y["value"]):
    """The oracle: per identity, the k-th decision of one version against the k-th of the other,
    changed where not `same`; the rest removed or added. Counts by (kind, rule, action), and the
    members those decisions name."""
    lists: dict = {}
    for side, decisions in ((0, old), (1, new)):
        for d in decisions:
            lists.setdefault(_identity(d), ([], []))[side].append(d)
    out: Counter = Counter()
    members: set = set()
    for a, b in lists.values():
        for x, y in zip(a, b):
            if not same(x, y):
                out["changed", y["rule"], y["action"]] += 1
                members.add(y.get("user"))
        for x in a[len(b):]:
            out["removed", x["rule"], x["action"]] += 1
            members.add(x.get("user"))
        for y in b[len(a):]:
            out["added", y["rule"], y["action"]] += 1
            members.add(y.get("user"))
    return out, members - {None, ""}


def _counted(report: dict) -> Counter:
    """A report's groups as (kind, rule, action) → count."""
    return Counter({(kind, g["rule"], g["action"]): g[kind] for g in report["groups"]
                    for kind in ("added", "removed", "changed") if g[kind]})


def _cuts(decisions: list, cuts: list[int]) -> list[list]:
    """The list in consecutive batches, cut where `cuts` say (some batches empty)."""
    points = sorted(min(c, len(decisions)) for c in cuts)
    return [decisions[i:j] for i, j in zip([0, *points], [*points, len(decisions)])]


@settings(max_examples=300, deadline=None)
@given(st.lists(_DECISION, max_size=12), st.lists(_DECISION, max_size=12),
       st.lists(st.integers(0, 12), max_size=4), st.lists(st.integers(0, 12), max_size=4))
def test_batches_match_as_whole_lists_would(old, new, old_cuts, new_cuts):
    comparison = Comparison()
    old_batches, new_batches = _cuts(old, old_cuts), _cuts(new, new_cuts)
    for i in range(max(len(old_batches), len(new_batches))):
        comparison.match(old_batches[i] if i < len(old_batches) else [],
                         new_batches[i] if i < len(new_batches) else [])
    report = comparison.report()
    got = _counted(report)
    expected, members = matched_by_hand(old, new)
    assert got == expected and report["members_affected"] == len(members)
    assert (report["added"], report["removed"], report["changed"]) == tuple(
        sum(n for (kind, _, _), n in got.items() if kind == k) for k in ("added", "removed", "changed"))


def test_a_decision_only_renamed_policy_is_the_same():
    # By hand: the same warning from a renamed policy file is no change; another value is one.
    comparison = Comparison()
    a = {"ts": "t", "policy": "old", "rule": "r", "action": "warn", "user": "u", "event_id": "e1", "message": "x"}
    comparison.match([a, dict(a, event_id="e2")], [dict(a, policy="new"), dict(a, event_id="e2", message="y")])
    report = comparison.report()
    assert (report["added"], report["removed"], report["changed"], report["members_affected"]) == (0, 0, 1, 1)
    assert report["groups"][0]["examples"][0]["after"]["message"] == "y"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([b'{"a":1}', b'{"b":"\\u5f20"}', b"{}", b'{"c":"-"}']), max_size=5), max_size=6),
       st.lists(st.integers(0, 200), max_size=8))
def test_a_spool_read_as_it_grows_gives_the_batches_written(batches, cuts):
    # The worker's writes reach the file in pieces cut anywhere (a buffer's flush mid-line); read
    # after each piece, the spool's batches are the ones written, in order, each line whole.
    import tempfile
    from pathlib import Path

    from policyengine.cli.diff_cmd import _BATCH_END, _Tail
    data = b"".join(b"".join(line + b"\n" for line in batch) + _BATCH_END for batch in batches)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "version0.jsonl"
        tail = _Tail(str(path))
        got = []
        with open(path, "ab") as spool:
            for start, end in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)]):
                spool.write(data[start:end])
                spool.flush()
                tail.read()
                got.extend(tail.batches)
                tail.batches.clear()
        tail.close()
    assert got == batches and tail.partial == b"" and tail.lines == []


def test_the_versions_batches_are_matched_as_they_come_and_the_rest_at_the_end(tmp_path):
    # By hand: one version ends with a batch more than the other; the worker "ends" after the
    # second read. Both of e1's warnings match (one changed), e2's is removed, e3's added.
    from policyengine.cli.diff_cmd import _Tail, _match_as_they_come
    old = b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e1","n":1}\n-\n' \
          b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e2","n":1}\n-\n'
    new = b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e1","n":2}\n-\n-\n' \
          b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e3","n":1}\n-\n'
    tails = [_Tail(str(tmp_path / "a")), _Tail(str(tmp_path / "b"))]
    (tmp_path / "a").write_bytes(old)
    (tmp_path / "b").write_bytes(new)
    asked = []
    comparison = Comparison()
    _match_as_they_come(tails, comparison, lambda: asked.append(1) or len(asked) > 1)
    report = comparison.report()
    assert (report["changed"], report["removed"], report["added"]) == (1, 1, 1)
    assert [e["kind"] for e in report["groups"][0]["examples"]] == ["changed", "removed", "added"]


# Lines set aside unparsed (cli/unchanged.py): a batch pair with them taken out must match as the
# whole batches do. Lines are drawn so that many are byte-equal across the versions, identities
# repeat within a batch and across batches, and some lines cannot be read from their bytes
# (a nested object, an escape) or spell the identity's first field as "", null or not at all.
def _line_decisions(rules: list) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"ts": st.sampled_from(["t1", "t2"]), "rule": st.sampled_from(rules), "action": st.just("warn"),
         "user": st.sampled_from(["a", "b"]), "value": st.integers(0, 1)},
        optional={"event_id": st.sampled_from(["e1", "e2", "", None]), "policy": st.sampled_from(["p", "q"]),
                  "extra": st.sampled_from([{"k": 1}, 'say "hi"', "{not an object}", [1, "x"]])})


_LINE_DECISION = _line_decisions(["r", "s"])
_ANY_LINE_DECISION = _line_decisions(["r", "s", None])       # a rule null: the bytes' key, not a report


def _lines(decisions: list[dict]) -> list[bytes]:
    import orjson
    return [orjson.dumps(d) for d in decisions]


def _edited(old: list[dict], edits: list[tuple[int, int, dict]]) -> list[dict]:
    """`old` with some decisions changed, dropped or put in: the new version of a light edit."""
    new = list(old)
    for kind, at, d in edits:
        if not new and kind != 2:
            continue
        at %= len(new) + 1 if kind == 2 else len(new)
        if kind == 0:
            new[at] = dict(new[at], value=1 - new[at]["value"])
        elif kind == 1:
            del new[at]
        else:
            new.insert(at, d)
    return new


def _full_report(comparison: Comparison) -> dict:
    report = comparison.report()
    return {**report, "groups": sorted(report["groups"], key=lambda g: (g["rule"] or "", g["action"]))}


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE_DECISION, max_size=14),
       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), _LINE_DECISION), max_size=4),
       st.lists(st.integers(0, 14), max_size=4), st.lists(st.integers(0, 14), max_size=4))
def test_lines_set_aside_unparsed_change_nothing_the_matching_finds(old, edits, old_cuts, new_cuts):
    import orjson

    from policyengine.cli import unchanged
    new = _edited(old, edits)
    old_batches, new_batches = _cuts(_lines(old), old_cuts), _cuts(_lines(new), new_cuts)
    pairs = [(old_batches[i] if i < len(old_batches) else [], new_batches[i] if i < len(new_batches) else [])
             for i in range(max(len(old_batches), len(new_batches)))]
    parsed = Comparison()
    for a, b in pairs:
        parsed.match([orjson.loads(x) for x in a], [orjson.loads(y) for y in b])
    reports = []
    for module_key_of, module_unchanged_out in ((unchanged.key_of, unchanged.unchanged_out),
                                                (unchanged.python_key_of, unchanged.python_unchanged_out)):
        comparison = Comparison()
        for a, b in pairs:
            # the keys of what waits, as the Comparison keeps them, under this implementation's key_of
            waiting: dict = {}
            for side in comparison.waiting:
                for identity in side:
                    key = module_key_of(identity[0], identity[1])
                    waiting[key] = waiting.get(key, 0) + 1
            rest = module_unchanged_out(a, b, waiting)
            comparison.match([orjson.loads(x) for x in rest[0]], [orjson.loads(y) for y in rest[1]])
        reports.append(_full_report(comparison))
    expected = _full_report(parsed)
    assert reports[0] == expected and reports[1] == expected
    assert _counted(expected) == matched_by_hand(old, new, same=lambda x, y: _but_policy(x) == _but_policy(y))[0]


def _but_policy(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "policy"}


@settings(max_examples=300, deadline=None)
@given(st.lists(_ANY_LINE_DECISION, max_size=10),
       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), _ANY_LINE_DECISION), max_size=3),
       st.lists(_ANY_LINE_DECISION, max_size=3))
def test_the_c_module_sets_aside_the_lines_the_definition_does(old, edits, waiting_decisions):
    from policyengine.cli import unchanged
    from policyengine.cli.diff_cmd import _identity
    a, b = _lines(old), _lines(_edited(old, edits))
    identities = [_identity(d) for d in waiting_decisions]
    waiting_c = {unchanged.key_of(i[0], i[1]): 1 for i in identities}
    waiting_py = {unchanged.python_key_of(i[0], i[1]): 1 for i in identities}
    assert unchanged.unchanged_out(a, b, waiting_c) == unchanged.python_unchanged_out(a, b, waiting_py)


def test_a_line_set_aside_is_the_only_one_of_its_key_in_both_batches_with_none_waiting():
    # By hand. The definition, line by line; then a line each of the two cases that must stay.
    from policyengine.cli import unchanged
    a = b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e1","n":1}'
    b = b'{"ts":"t","rule":"r","action":"warn","user":"u","event_id":"e2","n":1}'
    assert unchanged.python_unchanged_out([a, b], [b, a], {}) == ([], [])
    assert unchanged.unchanged_out([a, b], [b, a], {}) == ([], [])
    # e1 waits from an earlier batch: a stays, on both sides
    for key_of, unchanged_out in ((unchanged.key_of, unchanged.unchanged_out),
                                  (unchanged.python_key_of, unchanged.python_unchanged_out)):
        assert unchanged_out([a, b], [b, a], {key_of("e1", "r"): 1}) == ([a], [a])
    # a second decision of e1 and r in the new batch (another member's): a stays
    a_other = a.replace(b'"u"', b'"v"')
    assert unchanged.unchanged_out([a, b], [b, a, a_other], {}) == ([a], [a, a_other])
    # with an empty event_id the time is the identity's first field, as `event_id or ts` says
    assert unchanged.line_key(a.replace(b'"e1"', b'""')) == (b"t", b"r")
    assert unchanged.line_key(a.replace(b'"e1"', b"null").replace(b'"rule":"r",', b"")) == (b"t", None)
    # not read from the bytes: an escape, a nested object, a key twice, an event_id not a string
    for unread in (a.replace(b'"u"', b'"\\u0075"'), a[:-1] + b',"x":{"rule":"s"}}', a[:-1] + b',"rule":"s"}',
                   a.replace(b'"e1"', b"7")):
        assert unchanged.line_key(unread) is None
    assert unchanged.line_key(a[:-1] + b',"text":"{ in a string }"}') == (b"e1", b"r")
    # a time that is not a string keeps the line even where the event_id names it, in C as well
    odd_time = a.replace(b'"ts":"t"', b'"ts":5')
    assert unchanged.line_key(odd_time) is None
    assert unchanged.unchanged_out([odd_time], [odd_time], {}) == ([odd_time], [odd_time])


def test_a_line_that_cannot_be_read_keeps_the_batches_whole_since_it_may_share_an_identity():
    # By hand: the current version's first e1 warning has a nested object, so its key is not read;
    # k-th with k-th pairs it with the new version's only e1 warning (changed) and leaves the
    # second removed. Setting aside the byte-equal pair would have said the first one was removed.
    import orjson
    same = {"ts": "t", "rule": "r", "action": "warn", "user": "u", "event_id": "e1", "n": 1}
    nested = dict(same, n=2, detail={"k": 1})
    comparison = Comparison()
    comparison.match_lines([orjson.dumps(nested), orjson.dumps(same)], [orjson.dumps(same)])
    report = comparison.report()
    assert (report["changed"], report["removed"], report["added"]) == (1, 1, 0)
    assert [e["kind"] for e in report["groups"][0]["examples"]] == ["changed", "removed"]
    assert report["groups"][0]["examples"][0]["before"]["n"] == 2


def test_a_waiting_identity_keeps_its_later_lines_from_being_set_aside():
    # By hand: e1's first warning (n=1) is only in the current version's first batch, so it waits;
    # in the second batch both versions have e1's n=2 warning byte for byte. As whole lists:
    # [n=1, n=2] against [n=2]: the first pair changed, the current's n=2 removed.
    import orjson
    first = {"ts": "t", "rule": "r", "action": "warn", "user": "u", "event_id": "e1", "n": 1}
    second = dict(first, n=2)
    comparison = Comparison()
    comparison.match_lines([orjson.dumps(first)], [])
    comparison.match_lines([orjson.dumps(second)], [orjson.dumps(second)])
    report = comparison.report()
    assert (report["changed"], report["removed"], report["added"]) == (1, 1, 0)
    assert report["groups"][0]["examples"][0]["before"]["n"] == 1
    assert comparison.waiting_keys == {}

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


def _oracle(old: list[dict], new: list[dict]) -> Counter:
    lists: dict = {}
    for side, decisions in ((0, old), (1, new)):
        for d in decisions:
            lists.setdefault(_identity(d), ([], []))[side].append(d)
    out: Counter = Counter()
    for a, b in lists.values():
        for x, y in zip(a, b):
            if x["value"] != y["value"]:
                out["changed", x["rule"]] += 1
        for x in a[len(b):]:
            out["removed", x["rule"]] += 1
        for y in b[len(a):]:
            out["added", y["rule"]] += 1
    return out


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
    got = Counter({(kind, g["rule"]): g[kind] for g in report["groups"] for kind in ("added", "removed", "changed")
                   if g[kind]})
    assert got == _oracle(old, new)
    assert (report["added"], report["removed"], report["changed"]) == tuple(
        sum(n for (kind, _), n in got.items() if kind == k) for k in ("added", "removed", "changed"))


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

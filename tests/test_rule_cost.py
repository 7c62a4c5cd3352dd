"""benchmarks/rule_cost.py times runs with a rule or an aggregate left out; what it leaves out
must be exactly that: here the decisions of such a run are those of the policies without it."""
import orjson
import pytest

from benchmarks.rule_cost import blocks, timed_run, variant, without
from policyengine.compiler.program import compile_program
from policyengine.loader import load_text

POLICY = """policy p
rule shout {
  on message where text contains "!"
  do warn("calm down")
}
rule regular {
  on message
  when count(message by user) >= 2
  do promote("regular")
  once per user
}
rule busy {
  on message
  when count(message by user within 1m) >= 3
  do flag("busy")
}
"""
LINES = [{"type": "message", "user": u, "ts": f"2026-01-01T00:00:{s:02d}Z", "id": f"e{s}", "text": t}
         for s, (u, t) in enumerate([("a", "hi!"), ("a", "hello"), ("b", "yo!"), ("a", "again"), ("b", "ok")])]


def _decisions(compiled, tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in LINES))
    import benchmarks.rule_cost as rc
    written = []
    real = rc.jsonl_writer
    rc.jsonl_writer = lambda _: written.append         # keep the decisions instead of writing them
    try:
        _, made, reported = timed_run(compiled, str(log))
    finally:
        rc.jsonl_writer = real
    assert made == len(written) and reported == 0          # no rule of a variant fails
    return [(d["rule"], d["action"], d.get("user")) for d in written]


def test_leaving_a_rule_out_removes_its_decisions_and_only_them(tmp_path):
    base = compile_program(load_text([("p.policy", POLICY)]).program)
    names = [r.name for r in base.plan.rules]
    everything = _decisions(base, tmp_path)
    # By hand: "!" in e0 and e2; a's second message (e1) makes a regular, b's (e4) b; a's third
    # within a minute (e3) is busy.
    assert everything == [("shout", "warn", "a"), ("regular", "promote", "a"), ("shout", "warn", "b"),
                          ("busy", "flag", "a"), ("regular", "promote", "b")]
    assert ("rule", names.index("shout")) in blocks(base)
    no_shout = variant(base, without(base.source, "rule", names.index("shout")))
    assert _decisions(no_shout, tmp_path) == [d for d in everything if d[0] != "shout"]


@pytest.mark.parametrize("windowed, rule", [(False, "regular"), (True, "busy")])
def test_leaving_a_count_out_hands_its_rules_zero(tmp_path, windowed, rule):
    # Both counts hand the rules their value from the update (`cntN = …`, `winN = add_count(…)`).
    base = compile_program(load_text([("p.policy", POLICY)]).program)
    counts = [i for i, a in enumerate(base.plan.aggregates) if (a.window_us is not None) == windowed]
    assert len(counts) == 1
    source = without(base.source, "aggregate", counts[0])
    assert f"{'win' if windowed else 'cnt'}{counts[0]} = 0" in source
    assert f"aggregate_failed({counts[0]}," not in source
    # The rule reading it sees 0 (it never fires, and nothing fails: the run makes the others).
    everything = [("shout", "warn", "a"), ("regular", "promote", "a"), ("shout", "warn", "b"),
                  ("busy", "flag", "a"), ("regular", "promote", "b")]
    assert _decisions(variant(base, source), tmp_path) == [d for d in everything if d[0] != rule]


def test_a_block_that_is_not_there_is_an_error():
    base = compile_program(load_text([("p.policy", POLICY)]).program)
    try:
        without(base.source, "rule", 99)
    except ValueError as err:
        assert "rule 99" in str(err)
    else:
        raise AssertionError("no error for a rule the program does not have")


def test_a_layer_keeps_the_rules_it_names_and_nothing_else(tmp_path):
    # benchmarks/layers.py: "no rule" decides nothing; a layer with one rule kept makes that
    # rule's decisions (the count it reads is an aggregate: left out, it reads 0, so `regular`
    # alone never fires, and with its count kept it fires as in the whole program).
    from benchmarks.layers import stripped
    base = compile_program(load_text([("p.policy", POLICY)]).program)
    counts = [i for i, a in enumerate(base.plan.aggregates) if a.window_us is None]
    assert _decisions(variant(base, stripped(base, set(), False)), tmp_path) == []
    assert _decisions(variant(base, stripped(base, {"shout"}, False)), tmp_path) == [("shout", "warn", "a"),
                                                                                     ("shout", "warn", "b")]
    assert _decisions(variant(base, stripped(base, {"regular"}, False)), tmp_path) == []
    assert _decisions(variant(base, stripped(base, {"regular", f"agg{counts[0]}"}, False)), tmp_path) == [
        ("regular", "promote", "a"), ("regular", "promote", "b")]


def test_bare_text_says_so_when_it_finds_nothing_to_leave_out():
    # A policy that reads no text has no folded or normalised text to leave out: --bare-text must
    # not pass silently as if it had measured something. One that folds text loses the call.
    from benchmarks.layers import stripped
    counting = compile_program(load_text([("c.policy", "policy c\nrule regular {\n  on message\n"
                                                       "  when count(message by user) >= 2\n  do promote(\"regular\")\n}\n")]).program)
    with pytest.raises(SystemExit):
        stripped(counting, set(), True)
    base = compile_program(load_text([("p.policy", POLICY)]).program)
    assert "fold_text(f1)" in base.source and "fold_text(f1)" not in stripped(base, set(), True)

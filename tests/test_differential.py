"""Differential testing: hypothesis writes policies and event streams; the compiled engine must make
exactly the decisions of the naive oracle in tests/oracle.py."""
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oracle import Oracle, RuleSpec
from policyengine.engine import Engine

WORDS = ["ad", "hi", "x"]
KEYS = [(), ("user",), ("channel",), ("user", "channel")]


@st.composite
def rule_specs(draw, index):
    function = draw(st.sampled_from(["count", "count", "distinct", "streak", "points"]))
    where = draw(st.sampled_from([None, None, "ad", "hi"]))
    if function == "points":
        return RuleSpec(f"r{index}", where, "points", None, (), None, ">=", 0,
                        amount=draw(st.integers(1, 7)), cap=draw(st.sampled_from([None, 5, 10, 12])))
    window = None if function == "streak" else draw(st.sampled_from([None, 10, 60, 100, 3600]))
    return RuleSpec(
        f"r{index}", where, function, draw(st.sampled_from([None, "ad", "x"])),
        draw(st.sampled_from(KEYS[1:] if function == "streak" else KEYS)), window,
        draw(st.sampled_from([">=", "==", ">"])), draw(st.integers(1, 4)),
        grace=draw(st.integers(0, 1)), gate=draw(st.sampled_from(["none", "once", "cooldown"])),
        gate_keys=draw(st.sampled_from([("user",), ("channel",), ("user", "channel")])),
        cooldown=draw(st.sampled_from([10, 60, 100])))


@st.composite
def streams(draw):
    # Steps that land on window edges (10, 60, 100 s), equal timestamps (0), bursts and day gaps.
    steps = draw(st.lists(st.sampled_from([0, 0, 1, 5, 10, 50, 60, 100, 3600, 86_400, 2 * 86_400]),
                          min_size=1, max_size=60))
    events, ts = [], 1_700_000_000 - 1_700_000_000 % 86_400
    for i, step in enumerate(steps):
        ts += step
        event = {"type": "message", "ts": ts, "user": draw(st.sampled_from(["a", "b", "c"])), "id": f"e{i}",
                 "text": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=2)))}
        channel = draw(st.sampled_from(["x", "y", None]))
        if channel is not None:
            event["channel"] = channel
        events.append(event)
    return events


def _engine_decisions(specs, events):
    text = "".join(s.header() for s in specs) + "\n".join(s.text() for s in specs)
    engine = Engine.from_text(text)
    out = []
    for event in events:
        for d in engine.process(dict(event)):
            out.append((d["event_id"], d["rule"], d["action"], d.get("points")))
    assert not engine.issues
    return out, text


def _oracle_decisions(specs, events):
    oracle = Oracle(specs)
    return [d for e in events for d in oracle.process(e)]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(*[rule_specs(i) for i in range(n)])), streams())
@example(  # found by this test: a window edge exactly 60 s back must be outside
    (RuleSpec("r0", None, "count", None, ("user",), 60, ">=", 2),),
    [{"type": "message", "ts": 0, "user": "a", "id": "e0", "text": ""},
     {"type": "message", "ts": 60, "user": "a", "id": "e1", "text": ""}])
def test_engine_equals_naive_oracle(specs, events):
    got, text = _engine_decisions(list(specs), events)
    want = _oracle_decisions(list(specs), events)
    assert got == want, text

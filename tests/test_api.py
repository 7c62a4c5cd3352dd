"""The public API: the examples in docs/api.md run as they are, plus behaviour they do not show."""
import re
import subprocess
import sys
import threading

import orjson
import pytest

from conftest import ROOT, run_cli
from policyengine import BadEvent, Decision, Engine, Event

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_api_doc_examples_run(block, monkeypatch):
    monkeypatch.chdir(ROOT)
    exec(compile(block, "docs/api.md", "exec"), {})


def test_doc_has_examples():
    assert len(BLOCKS) >= 4


def test_events_as_models_and_decisions_as_mappings():
    engine = Engine.load(str(ROOT / "policies/examples/ads.policy"))
    out = engine.process(Event(type="message", ts="2026-11-01T08:00:00Z", user="u", id="m1", text="promo.example/x"))
    assert isinstance(out[0], Decision) and out[0]["action"] == "delete" and "channel" not in out[0]
    assert out[0].to_json() == {"ts": "2026-11-01T08:00:00Z", "policy": "ads", "rule": "delete_ads",
                                "action": "delete", "user": "u", "event_id": "m1", "message_id": "m1"}
    with pytest.raises(BadEvent, match="missing required field `user`"):
        engine.process({"type": "message", "ts": 1})


def test_threads_sharing_an_engine_lose_no_events():
    engine = Engine.from_text('rule tenth { on message when count(message) == 4000 do flag("4000") }')
    fired = []
    engine.on("flag")(fired.append)

    def work(t):
        for i in range(1000):
            engine.process({"type": "message", "ts": 0, "user": f"t{t}", "id": f"{t}-{i}", "text": "x"})
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(fired) == 1                   # exactly one event was the 4 000th


def test_schema_command_prints_both_contracts():
    events = orjson.loads(run_cli("schema", "events").stdout)
    decisions = orjson.loads(run_cli("schema", "decisions").stdout)
    assert set(events["required"]) == {"type", "ts", "user"}
    assert {"ts", "policy", "rule", "action"} <= set(decisions["required"]) and "duration_s" in decisions["properties"]


def test_advance_fires_timers_without_an_event():
    engine = Engine.load(str(ROOT / "policies/examples/silent.policy"))
    engine.process({"type": "message", "ts": "2026-11-01T00:00:00Z", "user": "a", "text": "hi"})
    assert [d.user for d in engine.advance("2026-11-04T00:00:00Z")] == ["a"]


def test_sampling_applies_to_a_stable_share_of_members():
    text = 'rule trial sample 10% by user { on message do flag("trial") }'
    def sampled(engine):
        return {d.user for i in range(2000)
                for d in engine.process({"type": "message", "ts": i, "user": f"m{i}", "text": "x"})}
    first, second = sampled(Engine.from_text(text)), sampled(Engine.from_text(text))
    assert first == second                       # the same members on every run
    assert 160 <= len(first) <= 240              # about 10 % of 2 000
    other = sampled(Engine.from_text(text.replace("trial", "other")))
    assert other != first                        # each rule draws its own sample


def test_explain_carries_the_tested_values_and_costs_nothing_when_off():
    policy = str(ROOT / "policies/examples/ladder.policy")
    plain, explained = Engine.load(policy), Engine.load(policy, explain=True)
    # Off, no handler line mentions it (only the helper bindings at build time do).
    assert [l for l in plain.compiled.source.splitlines() if ("explain" in l or "why" in l) and "= _h." not in l] == []
    events = [{"type": "message", "ts": i * 60, "user": "u", "id": f"m{i}", "text": "加微信"} for i in range(2)]
    assert all(d.explain is None for d in plain.process_many(events))
    out = explained.process_many(events)
    assert [d.explain for d in out] == [{"ladder": "offenses", "step": "n == 1", "value": 1},
                                        {"ladder": "offenses", "step": "n == 2", "value": 2}]
    ads = Engine.load(str(ROOT / "policies/examples/ads.policy"), explain=True)
    mute = [d for d in ads.process_many(events + [{"type": "message", "ts": 150, "user": "u", "id": "m2",
                                                   "text": "加微信"}]) if d.action == "mute"][0]
    assert mute.explain["rule"] == "policies/examples/ads.policy:14" or mute.explain["rule"].endswith("ads.policy:14")
    assert "count(message where AD by user within 10m) >= 3 → 3 ≥ 3" in mute.explain["tested"]


FROZEN_BLOCKS = re.findall(r"```py\n(.*?)```", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.S)


def test_the_collector_recipe_runs_and_the_engine_decides_after_it():
    # The recipe freezes the interpreter's objects, so it runs in a process of its own; after it
    # (a reload between an unfreeze and a freeze) the engine still decides, and start-up is frozen.
    assert len(FROZEN_BLOCKS) == 1
    check = FROZEN_BLOCKS[0] + (
        "\nout = engine.process({'type': 'message', 'ts': '2026-11-01T08:00:00Z', 'user': 'u1',"
        " 'text': '加微信 领红包'})\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
        "print(sorted({d.action for d in out}))\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "delete" in done.stdout


def test_the_engines_decisions_are_the_models_own():
    # Engine.process makes each Decision with the model's validator called directly; held here to
    # the documented constructor, Decision(**d), over the pack's decisions with explanations.
    from benchmarks.loggen import generate
    from policyengine.engine import _decision
    engine = Engine.load(str(ROOT / "policies/community"), explain=True)
    twin = Engine.load(str(ROOT / "policies/community"), explain=True)
    made = 0
    for event in generate(4000, seed=9):
        ts = twin.decoder.validate(event)
        expected = [Decision(**d) for d in twin.evaluator.process(event, ts)]
        got = engine.process(event)
        assert got == expected and [d.model_fields_set for d in got] == [d.model_fields_set for d in expected]
        made += len(got)
    assert made > 1000
    extra = {"ts": "2026-11-01T00:00:00Z", "policy": "p", "rule": "r", "action": "notify", "custom": [1]}
    assert _decision(extra) == Decision(**extra) and _decision(extra).custom == [1]
    with pytest.raises(Exception):
        _decision({"policy": "p"})                  # validated, as Decision(**d) is


def test_a_damaged_state_file_raises_the_public_state_file_error_and_is_left_as_it_was(tmp_path):
    import sqlite3

    from policyengine import Engine, StateFileError
    path = tmp_path / "bot.db"
    rule = 'rule fifth { on message when count(message by user) == 5 do promote("regular") }'
    engine = Engine.from_text(rule, state=str(path))
    for i in range(3):
        engine.process({"type": "message", "ts": i, "user": "u", "text": "x"})
    engine.checkpoint()
    engine.close()
    db = sqlite3.connect(path)
    before = db.execute("SELECT section, name, body FROM state ORDER BY section, name").fetchall()
    db.execute("UPDATE state SET body = CAST(replace(CAST(body AS TEXT), '3', '4') AS BLOB)")   # three counts became four
    db.commit()
    damaged = db.execute("SELECT section, name, body FROM state ORDER BY section, name").fetchall()
    assert damaged != before
    with pytest.raises(StateFileError, match="do not match the checksums"):
        Engine.from_text(rule, state=str(path))
    assert db.execute("SELECT section, name, body FROM state ORDER BY section, name").fetchall() == damaged
    db.close()

"""Evaluation cost per event by kind of rule, over the same generated log. Never asserted."""
from pathlib import Path

import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import load_paths, load_text
from policyengine.runtime.evaluator import Evaluator

ROOT = Path(__file__).resolve().parents[1]
LINES = [orjson.dumps(e) for e in generate(20_000, seed=11)]

KINDS = {
    "stateless-contains": 'rule r { on message where text contains "加微信" do delete }',
    "word-list-1000": "words W = [" + ", ".join(f'"词{i}"' for i in range(1000)) + ']\n'
                      'rule r { on message where text contains any W do delete }',
    "regex": 'rule r { on message where text matches /https?:\\/\\/\\S+/i do flag("link") }',
    "sliding-window": 'rule r { on message when count(message by user within 1m) >= 10 do mute(10m) cooldown 10m per user }',
    "all-time-count-once": 'rule r { on message when count(message by user) >= 50 do promote("c") once per user }',
}


def _run(compiled, lines):
    ev = Evaluator(compiled)
    dec = EventDecoder(compiled.plan.field_types)
    for line in lines:
        event, ts = dec.decode(line)
        ev.process(event, ts)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_eval_rule_kind(benchmark, kind):
    compiled = compile_program(load_text([("k.policy", KINDS[kind])]).program)
    benchmark(_run, compiled, LINES)


@pytest.mark.parametrize("pack", ["examples", "community"])
def test_eval_pack(benchmark, pack):
    compiled = compile_program(load_paths([str(ROOT / "policies" / pack)]).program)
    benchmark(_run, compiled, LINES)


def test_decode_only(benchmark):
    dec = EventDecoder({})
    benchmark(lambda: [dec.decode(l) for l in LINES])

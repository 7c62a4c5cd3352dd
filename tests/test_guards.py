"""Runs of word-needing rules and counts share one guard (compiler/codegen._guarded); the decisions
must be those of the same program compiled without guards."""
import re

import orjson

from benchmarks.loggen import generate
from policyengine.compiler import codegen, compile_program
from policyengine.engine import Engine
from policyengine.loader import load_text
from policyengine.runtime.matchers import WordSet

WORDS = ["加微信", "promo.example/", "free", "优惠", "idiot", "白痴", "nitro", "兼职", "vx", "红包"]
POLICY = "policy g\n" + "".join(
    f'rule w{i} {{ on message where text contains "{w}" '
    f'when count(message where text contains "{w}" by user within 10m) >= {1 + i % 3} '
    f'do flag("{w}"){", stop" if i == 4 else ""} cooldown 1m per user }}\n'
    for i, w in enumerate(WORDS[:7])) + (
    'rule plain { on message where text contains any ["hello", "谢谢"] do award_points(1) }\n'
    'rule w7 { on message where text contains "兼职" do delete }\n'
    'rule w8 { on message where text contains any ["vx", "红包"] and len(text) > 5 do delete }\n'
    'rule w9 { on message where text contains "nitro" do warn("no") once per user }\n')


def _decisions(monkeypatch, at_least: int):
    monkeypatch.setattr(codegen, "GUARD_AT_LEAST", at_least)
    engine = Engine.from_text(POLICY, "g.policy")
    out = []
    for event in generate(8000, seed=3):
        out += [orjson.dumps(d.model_dump(exclude_none=True)) for d in engine.process(event)]
    assert not engine.issues
    return out, engine


def test_guarded_runs_decide_as_unguarded_rules(monkeypatch):
    guarded, _ = _decisions(monkeypatch, 3)
    plain, _ = _decisions(monkeypatch, 10 ** 9)
    assert guarded == plain
    assert len(plain) > 50            # the words occur in the generated chat: rules did fire


def test_the_guards_are_there(monkeypatch):
    monkeypatch.setattr(codegen, "GUARD_AT_LEAST", 3)
    compiled = compile_program(load_text([("g.policy", POLICY)]).program)
    source = compiled.source
    # Counts: the seven filtered counts, seven words. Rules: all ten need words, 7 + hello, 谢谢,
    # 兼职, vx, 红包 (nitro is already in) = 12 words. Each is one pass of a WordSet (a short list,
    # runtime/_words.c). Each guard once in the dict handler, once in the record handler and once
    # in each record loop (compiler/loop.py: one worker's and a share's).
    guards = {}
    for name in ("g0", "g1"):
        found = set(re.findall(rf"\({name} := cf0 is not None and P(\d+)\(cf0\)\)", source))
        assert len(found) == 1 and source.count(f"({name} := cf0 is not None and P") == 4, name
        guards[name] = compiled.pool[int(found.pop())]
    assert isinstance(guards["g0"], WordSet) and len(guards["g0"].words) == 7
    assert isinstance(guards["g1"], WordSet) and len(guards["g1"].words) == 12


def test_a_second_guard_on_the_same_words_reads_the_first(monkeypatch):
    monkeypatch.setattr(codegen, "GUARD_AT_LEAST", 3)
    text = "policy g\n" + "".join(
        f'rule r{i} {{ on message where text contains "{w}" '
        f'when count(message where text contains "{w}" by user within 1m) >= 2 do flag("x") }}\n'
        for i, w in enumerate(["a1", "b2", "c3"]))
    source = compile_program(load_text([("g.policy", text)]).program).source
    assert source.count("(g0 := ") == 4 and source.count("if g0:") == 4      # dict, record, two loops

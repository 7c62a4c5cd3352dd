"""Runs of word-needing rules and counts share one guard (compiler/guards.py); the decisions
must be those of the same program compiled without guards."""
import re

import orjson

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.compiler import guards as word_guards
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


def _decisions(monkeypatch, at_least: int, policy: str = POLICY, events=None):
    monkeypatch.setattr(word_guards, "GUARD_AT_LEAST", at_least)
    engine = Engine.from_text(policy, "g.policy")
    out = []
    for event in events if events is not None else generate(8000, seed=3):
        out += [orjson.dumps(d.model_dump(exclude_none=True)) for d in engine.process(event)]
    assert not engine.issues
    return out, engine


def test_guarded_runs_decide_as_unguarded_rules(monkeypatch):
    guarded, _ = _decisions(monkeypatch, 3)
    plain, _ = _decisions(monkeypatch, 10 ** 9)
    assert guarded == plain
    assert len(plain) > 50            # the words occur in the generated chat: rules did fire


def test_the_guards_are_there(monkeypatch):
    monkeypatch.setattr(word_guards, "GUARD_AT_LEAST", 3)
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
    monkeypatch.setattr(word_guards, "GUARD_AT_LEAST", 3)
    text = "policy g\n" + "".join(
        f'rule r{i} {{ on message where text contains "{w}" '
        f'when count(message where text contains "{w}" by user within 1m) >= 2 do flag("x") }}\n'
        for i, w in enumerate(["a1", "b2", "c3"]))
    source = compile_program(load_text([("g.policy", text)]).program).source
    assert source.count("(g0 := ") == 4 and source.count("if g0:") == 4      # dict, record, two loops


NORMALIZED = (
    "policy n\n"
    'words ADS = ["加微信", "vx:", "promo.example/", "兼职日结"]\n'
    'words RUDE = ["idiot", "白痴", "moron"]\n'
    'rule ads { on message where normalize(text) contains any ADS do delete }\n'
    'rule rude { on message where normalize(text) contains any RUDE do warn("be nice") }\n'
    'rule both { on message where normalize(text) contains all ["free", "gift"] do flag("free gift") }\n'
    'rule opener { on message where normalize(text) starts with "vx" do flag("vx first") }\n'
    'rule closer { on message where normalize(text) ends with "!!" do flag("shouting") }\n')
# Texts the normaliser changes before the words are looked for: full-width letters, case, spaces
# and marks between characters; and the same words plainly.
_SPELLED = ["ＶＸ: abc123", "加 微 信 领红包", "you IDIOT", "白-痴", "FREE gift inside", "Free GIFT!!",
            "promo．example/x", "兼职日结，速来", "hello there", "vx:me now!!", "nothing here"]


def _normalized_events() -> list[dict]:
    return list(generate(6000, seed=5)) + [
        {"type": "message", "ts": f"2026-12-01T00:00:{i:02d}Z", "user": f"s{i}", "id": f"s{i}", "text": t}
        for i, t in enumerate(_SPELLED)]


def test_a_run_of_tests_on_normalised_text_shares_one_guard_and_decides_as_without(monkeypatch):
    guarded, _ = _decisions(monkeypatch, 2, NORMALIZED, _normalized_events())
    plain, _ = _decisions(monkeypatch, 10 ** 9, NORMALIZED, _normalized_events())
    assert guarded == plain
    fired = {orjson.loads(d)["rule"] for d in plain}
    assert fired == {"ads", "rude", "both", "opener", "closer"}      # each rule fired, here or in the log
    monkeypatch.setattr(word_guards, "GUARD_AT_LEAST", 2)
    compiled = compile_program(load_text([("n.policy", NORMALIZED)]).program)
    # One guard over the normalised text for all five: the words of each, normalised as the
    # tests compare them (`contains all`, `starts with` and `ends with` need theirs too): 4 ads,
    # 3 rude, free, gift, vx, !! — once in each handler and loop.
    found = set(re.findall(r"\(g0 := nf0 is not None and P(\d+)\(nf0\)\)", compiled.source))
    assert len(found) == 1 and compiled.source.count("(g0 := nf0 is not None and P") == 4
    assert sorted(compiled.pool[int(found.pop())].words) == sorted(
        ["加微信", "vx:", "promo.example/", "兼职日结", "idiot", "白痴", "moron", "free", "gift", "vx", "!!"])


# A long list (past the C WordSet's 64 words without a fallback) and a long run of rules: both are
# one WordSet pass with the list's Aho–Corasick matcher behind it (compiler/expressions._any_of).
_LONG = [f"词{i}x" for i in range(80)] + ["加微信", "优惠"]
LONG = ("policy long\n"
        "words SPAM = [" + ", ".join(f'"{w}"' for w in _LONG) + "]\n"
        "rule listed { on message where text contains any SPAM do delete }\n"
        + "".join(f'rule r{i} {{ on message where text contains "{w}" do flag("{w}") }}\n'
                  for i, w in enumerate(_LONG)))


def test_a_long_list_and_a_long_run_of_rules_decide_as_the_words_say(monkeypatch):
    # The oracle is the words themselves: `listed` deletes each message whose case-folded text
    # holds one of them, and each r<i> flags each message holding its word, in rule order. The
    # texts put words at either end, split them, repeat their first character (which spends the
    # scan's budget) and use other storage widths.
    texts = ["说 词7x 吧", "词79x", "词8", "词 7x", "词" * 300 + "词12x", "词" * 300, "快加微信", "hello 😀 优惠",
             "nothing", "词1x词2x", "ＡＢＣ 词3X"]
    events = [{"type": "message", "ts": f"2026-12-01T00:00:{i:02d}Z", "user": f"m{i}", "id": f"e{i}", "text": t}
              for i, t in enumerate(texts)] + list(generate(3000, seed=9))
    got, _ = _decisions(monkeypatch, 3, LONG, events)
    expected = []
    for event in events:
        text = event.get("text")
        if event["type"] != "message" or not isinstance(text, str):
            continue
        folded = text.casefold()
        if any(w in folded for w in _LONG):
            expected.append(("listed", "delete", event["id"]))
        expected += [(f"r{i}", "flag", event["id"]) for i, w in enumerate(_LONG) if w in folded]
    decided = [orjson.loads(d) for d in got]
    assert [(d["rule"], d["action"], d["event_id"]) for d in decided] == expected
    assert sum(1 for r, _, _ in expected if r == "listed") >= 7     # seven of the hand-made texts
    compiled = compile_program(load_text([("l.policy", LONG)]).program)
    long_sets = [v for v in compiled.pool if isinstance(v, WordSet) and len(v.words) == len(_LONG)]
    assert long_sets and all(ws.__reduce__()[1][1] is not None for ws in long_sets)


def test_a_long_guarded_run_is_guarded_again_eight_steps_at_a_time(monkeypatch):
    # 83 rules needing words of the text: one guard for the run, then one for each eight (the last
    # three too), so that a text holding one word tests eight rules' words, not 83. In the dict
    # handler, the record handler and both record loops.
    # The first eight hold `listed`, which needs every word: the run's guard has found one, so
    # they go without one of their own; the ten groups after it each have theirs.
    monkeypatch.setattr(word_guards, "GUARD_AT_LEAST", 3)
    compiled = compile_program(load_text([("l.policy", LONG)]).program)
    tested = [compiled.pool[int(n)] for n in re.findall(r"^ +if cf0 is not None and P(\d+)\(cf0\):$",
                                                         compiled.source, re.M)]
    groups = [ws for ws in tested if isinstance(ws, WordSet) and len(ws.words) < len(_LONG)]
    assert len(groups) == 4 * 10
    assert len(tested) - len(groups) == 4                          # `listed`'s own test, no group's
    assert sorted({w for ws in groups[:10] for w in ws.words}) == sorted(_LONG[7:])     # ranks 8 to 82
    assert all(len(ws.words) == 8 for ws in groups[:9]) and len(groups[9].words) == 3

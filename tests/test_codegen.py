"""The generated evaluator: deterministic text, no policy text inside it, only checked input accepted."""
from pathlib import Path

import pytest

from policyengine.compiler import codegen, compile_program
from policyengine.engine import Engine
from policyengine.events.timestamps import parse_ts
from policyengine.loader import load_paths, load_text
from policyengine.runtime.evaluator import Evaluator

ROOT = Path(__file__).resolve().parents[1]

HOSTILE = [
    '"); __import__("os").system("touch /tmp/pwned") #',
    "\\\" + __import__('os').getcwd() + \\\"",
    "'''\n__import__('sys').exit(3)\n'''",
    "{__class__}",
    "\u202e\u2066 evil \u2069",
    "line\nbreak",
]


def test_generated_source_is_identical_run_to_run():
    first = compile_program(load_paths([str(ROOT / "policies")]).program).source
    second = compile_program(load_paths([str(ROOT / "policies")]).program).source
    assert first == second


def test_compiler_accepts_only_a_checked_program():
    module = load_text([("x.policy", "rule a { on message do warn(\"x\") }")])
    with pytest.raises(TypeError):
        compile_program(module.sources)          # anything but a CheckedProgram
    assert compile_program(module.program).source


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_strings_stay_data(payload, tmp_path):
    escaped = payload.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    template = escaped.replace("{", "{{").replace("}", "}}")
    text = (f'let BAD = text contains "{escaped}"\n'
            f'rule r {{ on message where BAD or text matches /a\\/b\\)/ '
            f'do warn("{template}") reason "{template}" }}\n')
    engine = Engine.from_text(text)
    assert payload not in engine.compiled.source           # policy text never enters the generated code
    for fragment in ("__import__", "system", "exit"):
        assert fragment not in engine.compiled.source
    decisions = engine.process({"type": "message", "ts": 0, "user": "u", "id": "m", "text": f"x{payload}x"})
    assert [d["message"] for d in decisions] == [payload]
    assert decisions[0]["reason"] == payload
    assert not Path("/tmp/pwned").exists()


def test_hostile_identifiers_cannot_reach_the_source():
    # Names are word characters by grammar; rule and policy names still travel as pool data.
    engine = Engine.from_text('policy __import__\nrule os_system { on message do warn("x") }')
    assert "__import__" not in engine.compiled.source and "os_system" not in engine.compiled.source
    d = engine.process({"type": "message", "ts": 0, "user": "u"})[0]
    assert (d["policy"], d["rule"]) == ("__import__", "os_system")


def test_the_event_number_is_the_loops_count_in_the_loop_and_the_stores_in_a_handler():
    # Awards and silences pass the event's number on. Inlined in the record loop, a handler's body
    # reads the loop's own count (no getattr on the store an award); a handler function binds the
    # same name from the store before its body runs. No text of the body is rewritten for it.
    import re
    source = compile_program(load_paths(["policies/community"]).program).source
    functions = re.split(r"\n    def ", source)
    loops = [f for f in functions if f.startswith(("RUN(", "RUN_SHARED("))]
    assert len(loops) == 2 and all("Z_n)" in f and "STORE.events_seen" not in f for f in loops)
    handlers = [f for f in functions if re.match(r"[hr]\d+\(ev, ts, out\):", f)]
    numbered = [f for f in handlers if "Z_n" in f]
    assert numbered, "the pack's awards read the event's number"
    for f in numbered:
        body = f.split("\n")[1:]
        first = next(line for line in body if "Z_n" in line)
        assert first.strip() == "Z_n = STORE.events_seen"
        assert body.index(first) < min(i for i, line in enumerate(body) if "Z_n)" in line or "Z_n," in line)


def _pack_decisions(monkeypatch, at_most: int, events: list, engines: int = 1):
    monkeypatch.setattr(codegen, "FREE_VARIABLES_AT_MOST", at_most)
    compiled = compile_program(load_paths([str(ROOT / "policies/community")]).program)
    evaluators = [Evaluator(compiled) for _ in range(engines)]     # all bound before any runs
    runs = [[] for _ in evaluators]
    for event in events:                                             # in turn, event by event
        for evaluator, run in zip(evaluators, runs):
            run += evaluator.process(event, parse_ts(event["ts"]))
    return compiled.source, runs


def test_a_program_whose_handlers_close_over_many_names_binds_them_as_globals(monkeypatch):
    # Past FREE_VARIABLES_AT_MOST a handler's names are globals of its own namespace, one for each
    # store: the community pack (its message handler reads 79) decides the same either way, two
    # evaluators of one program keep apart (each its own namespace), and the switch is where the
    # count says.
    from benchmarks.loggen import generate
    events = list(generate(4000, seed=11))
    cells, (plain,) = _pack_decisions(monkeypatch, 128, events)
    globs, (first, second) = _pack_decisions(monkeypatch, 0, events, engines=2)
    assert "    global " not in cells and "    global " in globs
    assert first == plain and len(plain) > 1000
    assert second == first                  # bound after the first, run beside it: neither reads the other's state
    # 100 rules, one word each: 219 names in the message handler, past the line as it stands
    from benchmarks.rule_scaling import policies
    text = policies()["100 `contains` rules, one word each"][0]
    monkeypatch.setattr(codegen, "FREE_VARIABLES_AT_MOST", 128)
    assert "    global " in compile_program(load_text([("r.policy", text)]).program).source


def test_the_free_variables_read_from_the_source_are_what_compiling_it_finds(monkeypatch):
    # The count that decides the switch is read from the generated text; the oracle is CPython's own
    # compile of it: the most co_freevars of any function build defines but the record loops.
    from benchmarks.rule_scaling import policies
    monkeypatch.setattr(codegen, "FREE_VARIABLES_AT_MOST", 10 ** 9)       # cells throughout, as counted
    programs = [load_paths([str(ROOT / "policies/community")]).program, load_paths([str(ROOT / "policies/examples")]).program]
    programs += [load_text([("b.policy", text)]).program for text, _ in policies().values()]
    for program in programs:
        source = compile_program(program).source
        build = next(c for c in compile(source, "x", "exec").co_consts if hasattr(c, "co_freevars"))
        true = max(len(c.co_freevars) for c in build.co_consts
                   if hasattr(c, "co_freevars") and not c.co_name.startswith("RUN"))
        assert codegen.most_free_variables(source) == true


def test_the_pool_makes_an_object_once_however_often_its_key_is_asked_for():
    # A word list's matchers are built through Pool.made, once a compile, though every handler and
    # both record loops test the list (a 10 000-word list's automaton is ~4 ms to build).
    from policyengine.compiler.writer import Pool
    pool, made = Pool(), []

    def make():
        made.append(1)
        return object()
    names = [pool.made(("words", "a", "b"), make) for _ in range(4)]
    assert names == ["P0"] * 4 and len(made) == 1 and len(pool.values) == 1
    assert pool.made(("words", "c"), make) == "P1" and len(made) == 2
    assert pool.add("x") == "P2" and pool.made(("str", "'x'"), make) == "P2" and len(made) == 2

"""Compiled programs kept between runs of `eval` (compiler/cache.py): a kept program decides exactly
as a freshly compiled one, anything it came from that changes makes it compile again, and a
damaged entry changes nothing a user sees."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.compiler import cache
from tests.conftest import ROOT

WORD_POLICY = 'words ADS = file "ads.txt"\nrule no_ads { on message where text contains any ADS do delete }\n'
# W0203: a level table over a currency no rule awards.
WARNED_POLICY = 'levels lv by xp {\n  0 "a"\n  10 "b"\n}\nrule hi { on message where text contains "hi" do warn("hello") }\n'
# MEE6's formula: level 1 needs 100 xp, level 2 100 + 155 = 255; 85 a message reaches them at the 2nd and 3rd.
FORMULA_POLICY = ('levels mee6 by xp formula 5 * L * L + 50 * L + 100 named "Level {level}"\n'
                  'rule chat { on message do award_points(85, "xp") }\n')


def _eval(cache_dir, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", POLICYENGINE_CACHE_DIR=str(cache_dir))
    env.pop("POLICYENGINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "policyengine", "eval", *args], capture_output=True,
                          cwd=ROOT, env=env, timeout=120)


def _entries(folder) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("compiled-"))


def _messages(path, *texts: str) -> str:
    path.write_bytes(b"".join(orjson.dumps({"type": "message", "ts": f"2026-11-02T00:00:0{i}Z", "user": "u",
                                            "id": f"m{i + 1}", "text": t}) + b"\n" for i, t in enumerate(texts)))
    return str(path)


@pytest.mark.parametrize("policy", ["policies/examples", "policies/community"])
def test_a_kept_program_decides_as_a_fresh_one(tmp_path, policy):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(6000, seed=5)))
    folder = tmp_path / "cache"
    first = _eval(folder, "--policy", policy, str(log))
    assert first.returncode == 0 and len(_entries(folder)) == 1
    second = _eval(folder, "--policy", policy, str(log))
    uncached = _eval("off", "--policy", policy, str(log))
    assert second.stdout.count(b"\n") >= 3
    # The summary's elapsed time differs from run to run; everything before it may not.
    same = [(r.returncode, r.stdout, r.stderr.split(b"elapsed")[0]) for r in (first, second, uncached)]
    assert same[0] == same[1] == same[2]
    assert len(_entries(folder)) == 1


def test_the_second_load_parses_and_checks_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYENGINE_CACHE_DIR", str(tmp_path))
    paths = [str(ROOT / "policies/examples")]
    loaded, compiled = cache.load_compiled(paths)

    def no_parsing(named):
        raise AssertionError("parsed again although the entry matches")
    monkeypatch.setattr(cache, "load_text", no_parsing)
    kept_loaded, kept = cache.load_compiled(paths)
    assert kept_loaded.diagnostics == loaded.diagnostics
    fields = loaded.program.__struct_fields__
    assert [getattr(kept_loaded.program, f) for f in fields if f != "schema"] == \
        [getattr(loaded.program, f) for f in fields if f != "schema"]
    assert kept_loaded.program.schema.events == loaded.program.schema.events
    assert kept.source == compiled.source and kept.record == compiled.record
    # The pool holds objects without equality (calendars, automata): equal when they serialise alike.
    assert pickle.dumps(kept.pool) == pickle.dumps(compiled.pool)
    assert kept.code.co_code == compiled.code.co_code


def test_a_changed_word_list_file_is_compiled_again(tmp_path):
    (tmp_path / "p.policy").write_text(WORD_POLICY, encoding="utf-8")
    (tmp_path / "ads.txt").write_text("spam\n", encoding="utf-8")
    log = _messages(tmp_path / "log.jsonl", "eggs and ham", "spam!")
    folder = tmp_path / "cache"
    before = _eval(folder, "--quiet", "--policy", str(tmp_path / "p.policy"), log)
    assert [d["event_id"] for d in map(orjson.loads, before.stdout.splitlines())] == ["m2"]
    (tmp_path / "ads.txt").write_text("eggs\n", encoding="utf-8")
    after = _eval(folder, "--quiet", "--policy", str(tmp_path / "p.policy"), log)
    assert [d["event_id"] for d in map(orjson.loads, after.stdout.splitlines())] == ["m1"]


def test_a_changed_policy_or_explain_or_profile_flag_is_a_new_entry(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text('rule r { on message where text contains "a" do warn("a") }\n', encoding="utf-8")
    log = _messages(tmp_path / "log.jsonl", "a", "b")
    folder = tmp_path / "cache"
    one = _eval(folder, "--quiet", "--policy", str(policy), log)
    assert [d["event_id"] for d in map(orjson.loads, one.stdout.splitlines())] == ["m1"]
    policy.write_text('rule r { on message where text contains "b" do warn("b") }\n', encoding="utf-8")
    two = _eval(folder, "--quiet", "--policy", str(policy), log)
    assert [d["event_id"] for d in map(orjson.loads, two.stdout.splitlines())] == ["m2"]
    explained = _eval(folder, "--quiet", "--explain", "--policy", str(policy), log)
    assert ["explain" in d for d in map(orjson.loads, explained.stdout.splitlines())] == [True]
    assert len(_entries(folder)) == 3
    # --profile runs the program compiled to lap its rules, kept as an entry of its own: the rule's
    # row counts both messages (a plain program, taken from the cache, would lap nothing).
    profiled = _eval(folder, "--quiet", "--profile", "--policy", str(policy), log)
    rows = {line.split()[0]: line.split()[1] for line in profiled.stderr.decode().splitlines() if line.startswith("p/")}
    assert rows == {"p/r": "2"} and len(_entries(folder)) == 4


def test_a_damaged_entry_is_a_miss_and_is_written_again(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(WARNED_POLICY, encoding="utf-8")
    log = _messages(tmp_path / "log.jsonl", "hi there", "bye")
    folder = tmp_path / "cache"
    first = _eval(folder, "--quiet", "--policy", str(policy), log)
    [entry] = _entries(folder)
    for damage in (b"", b"not a pickle", (folder / entry).read_bytes()[:100]):
        (folder / entry).write_bytes(damage)
        again = _eval(folder, "--quiet", "--policy", str(policy), log)
        assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
        assert (folder / entry).read_bytes() != damage              # rewritten whole
    assert b"warning[W0203]" in first.stderr                          # told on a miss and on every hit
    assert [d["event_id"] for d in map(orjson.loads, first.stdout.splitlines())] == ["m1"]


def test_a_level_formula_is_kept_and_still_levels_up(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(FORMULA_POLICY, encoding="utf-8")
    log = _messages(tmp_path / "log.jsonl", "a", "b", "c")
    folder = tmp_path / "cache"
    runs = [_eval(folder, "--quiet", "--policy", str(policy), log) for _ in range(2)]
    assert len(_entries(folder)) == 1
    for run in runs:
        ups = [(d["event_id"], d["level"]) for d in map(orjson.loads, run.stdout.splitlines())
               if d["action"] == "level_up"]
        assert ups == [("m2", "Level 1"), ("m3", "Level 2")]


def test_an_unwritable_or_switched_off_cache_still_evaluates(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(WARNED_POLICY, encoding="utf-8")
    log = _messages(tmp_path / "log.jsonl", "hi", "hi")
    # A folder inside a plain file cannot be made, whoever runs the test (root ignores modes).
    (tmp_path / "a-file").write_text("")
    blocked = _eval(tmp_path / "a-file" / "cache", "--quiet", "--policy", str(policy), log)
    off = _eval("off", "--quiet", "--policy", str(policy), log)
    assert blocked.returncode == off.returncode == 0
    assert blocked.stdout == off.stdout and blocked.stderr == off.stderr
    assert [d["event_id"] for d in map(orjson.loads, off.stdout.splitlines())] == ["m1", "m2"]
    assert b"warning[W0203]" in off.stderr


def test_an_edit_to_the_engine_changes_the_key(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    module = tmp_path / "sub" / "m.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE", str(tmp_path))
    named = [("p.policy", 'rule r { on message do warn("a") }\n')]
    before = cache._key(named, False, False)
    assert cache._key(named, False, False) == before and cache._key(named, True, False) != before
    assert cache._key(named, False, True) not in (before, cache._key(named, True, False))
    os.utime(module, ns=(1, 1))                     # same size, another modification time
    assert cache._key(named, False, False) != before

"""`eval --profile` (runtime/profile.py): every rule's runs counted exactly, time charged lap by lap,
and the decisions the same as without it."""
from __future__ import annotations

import re

import orjson

from policyengine.compiler import compile_program
from policyengine.loader import load_text
from policyengine.runtime import profile as profile_module
from policyengine.runtime.profile import Profile, profile_text, profiled_evaluator, timed
from tests.conftest import run_cli
from tests.test_records import _log_bytes

# `busy` stops the event from the third message of a member within an hour; `hello` runs on the
# messages it did not stop; `liked` on every reaction. No word list: no guard skips a rule.
POLICY = """policy p
rule busy priority 10 {
  on message
  when count(message by user within 1h) >= 3
  do delete, stop
}
rule hello {
  on message
  do warn("hi")
}
rule liked {
  on reaction
  when count(reaction by user) >= 2
  do warn("again")
}
rule quiet {
  on join
  do warn("welcome")
}
"""


def _event(kind: str, second: int, user: str, n: int) -> dict:
    return {"type": kind, "ts": f"2026-11-02T10:00:{second:02d}Z", "user": user, "id": f"e{n}",
            **({"text": "hello"} if kind == "message" else {})}


# u1 sends five messages within the minute (busy stops the 3rd, 4th and 5th), u2 two; u3 reacts
# three times. By hand: busy runs 7 times, hello 7 - 3 = 4, liked 3, quiet never.
EVENTS = [_event("message", 1, "u1", 1), _event("message", 2, "u2", 2), _event("message", 3, "u1", 3),
          _event("reaction", 4, "u3", 4), _event("message", 5, "u1", 6), _event("reaction", 6, "u3", 7),
          _event("message", 7, "u1", 8), _event("message", 8, "u2", 9), _event("message", 9, "u1", 10),
          _event("reaction", 10, "u3", 11)]


def test_every_rule_is_counted_each_time_its_code_is_reached(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    r = run_cli("eval", "--profile-out", str(tmp_path / "profile.json"), "--quiet", "--policy", str(policy), str(log))
    assert r.returncode == 0
    decisions = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert [d["action"] for d in decisions].count("delete") == 3
    runs = _runs(r.stderr.decode())
    expected = {"p/busy": 7, "p/hello": 4, "p/liked": 3, "p/quiet": 0,
                "`on message` reading the event": 7, "`on reaction` reading the event": 3,
                "`on message` counts, windows and silences": 7, "`on reaction` counts, windows and silences": 3}
    assert runs == expected
    # the JSON form (--profile-out, which implies --profile): the same rows
    written = orjson.loads((tmp_path / "profile.json").read_bytes())
    rows = {row["name"]: row for row in written["sections"]}
    assert {name: rows[name]["runs"] for name in expected} == expected
    assert rows["p/busy"]["kind"] == "rule" and rows["`on message` reading the event"]["kind"] == "handler"
    assert written["total_ns"] == sum(row["ns"] for row in written["sections"]) and written["lap_ns"] > 0


def test_a_profile_file_alone_also_runs_on_one_worker(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    plain = run_cli("eval", "--quiet", "--policy", str(policy), str(log))
    r = run_cli("eval", "--quiet", "--workers", "2", "--profile-out", str(tmp_path / "p.json"), "--policy", str(policy),
                str(log))
    assert r.returncode == plain.returncode == 0 and r.stdout == plain.stdout
    assert "running on one worker: --profile times each rule in one process" in r.stderr.decode()
    assert "error" not in r.stderr.decode() and _runs(r.stderr.decode())["p/busy"] == 7


def test_a_profile_file_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    r = run_cli("eval", "--profile-out", str(tmp_path / "missing" / "profile.json"), "--policy", str(policy), str(log))
    assert r.returncode == 3 and r.stdout == b"" and "profile.json: cannot write" in r.stderr.decode()
    assert "── profile" not in r.stderr.decode() and "Traceback" not in r.stderr.decode()


_ROW = re.compile(r"^(?P<name>.+?) +(?P<runs>[\d,]+|-) +(?P<total>\S+ \S+) +(?P<per_run>\S+ \S+|-) +[\d.]+%$")


def _runs(stderr: str) -> dict[str, int]:
    """The runs column of the profile table, by row, for rules and handlers."""
    rows = [_ROW.match(line) for line in stderr[stderr.index("── profile"):].splitlines()[2:-1]]
    assert all(rows), stderr
    return {row["name"]: int(row["runs"].replace(",", "")) for row in rows if row["name"].startswith(("p/", "`on"))}


def test_the_profile_changes_no_decision_and_runs_on_one_worker(tmp_path):
    log = tmp_path / "mixed.jsonl"
    log.write_bytes(_log_bytes(6_000, seed=11))        # bad lines and late events among them
    args = ("--policy", "policies/community", "--until", "2026-12-31T00:00:00Z", str(log))
    plain = run_cli("eval", *args)
    profiled = run_cli("eval", "--profile", "--workers", "2", *args)
    assert plain.returncode == profiled.returncode == 0
    assert profiled.stdout == plain.stdout and plain.stdout.count(b"\n") > 100
    err = profiled.stderr.decode()
    assert "note: --workers 2: running on one worker: --profile times each rule in one process" in err
    assert "── profile" in err and "timers (ladders, silences, periods)" in err
    # every rule of the pack has its row, run or not
    for rule in ("community/no_ads", "community/wake_silent", "community/points_for_messages"):
        assert f"\n{rule} " in err


class _Clock:
    """perf_counter_ns from a script of readings."""

    def __init__(self, readings):
        self.readings = iter(readings)

    def __call__(self):
        return next(self.readings)


def test_each_lap_charges_the_time_since_the_last_to_the_section_that_was_running(monkeypatch):
    monkeypatch.setattr(profile_module.time, "perf_counter_ns", _Clock([0, 100, 130, 200, 260, 400, 1000]))
    profile = Profile([("p/a", "rule"), ("p/b", "rule")])                    # reads 0: the start
    handler = profile.section("`on message` reading the event", "handler")
    outer = profile.enter(handler)                       # 100: 100 ns between events
    profile.lap(0)                                       # 130: 30 ns of the handler's own
    profile.lap(1)                                       # 200: 70 ns of rule a
    profile.lap(0)                                       # 260: 60 ns of rule b
    profile.leave(outer)                                 # 400: 140 ns of rule a
    profile.close()                                      # 1000: 600 ns between events
    assert profile.ns[0] == 70 + 140 and profile.ns[1] == 60 and profile.ns[handler] == 30
    assert profile.ns[profile.between] == 700 and profile.runs[0] == 2 and profile.runs[1] == 1
    profile.lap_ns = 20                                  # the profiler's own cost, taken off each run
    rows = {row.name: (row.runs, row.ns) for row in profile.sections()}
    assert rows["p/a"] == (2, 210 - 40) and rows["p/b"] == (1, 40) and rows["`on message` reading the event"] == (1, 10)
    assert [row.name for row in profile.sections()][:2] == [profile.names[profile.between], "p/a"]


def test_a_rule_that_never_ran_is_listed_and_a_cheap_one_is_not_shown_below_zero():
    profile = Profile([("p/cheap", "rule"), ("p/never", "rule")])
    profile.ns[0], profile.runs[0], profile.lap_ns = 50, 10, 20.0
    rows = {row.name: row for row in profile.sections()}
    assert rows["p/cheap"].ns == 0 and rows["p/never"].runs == 0
    text = profile_text(profile)
    assert "\np/never " in text and "\np/cheap " in text and "20 ns a run, the profiler's own, taken off" in text


def test_a_program_compiled_for_the_profile_decides_as_the_plain_one():
    loaded = load_text([("p.policy", POLICY)])
    plain = compile_program(loaded.program)
    profiled = compile_program(loaded.program, profile=True)
    assert "LAP" not in plain.source
    assert profiled.source.count("    LAP(0)") >= 1 and "LAP = _rt.lap" in profiled.source
    evaluator, profile = profiled_evaluator(profiled)
    profile.start()
    out = []
    for n, event in enumerate(EVENTS):
        out += evaluator.process(event, 1_000_000 * (n + 1))
    profile.close()
    assert [d["rule"] for d in out].count("busy") == 3 and profile.runs[:4] == [7, 4, 3, 0]


def test_state_checkpoints_have_their_own_row(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    r = run_cli("eval", "--profile", "--quiet", "--state", str(tmp_path / "state.db"), "--checkpoint-every", "4",
                "--policy", str(policy), str(log))
    assert r.returncode == 0
    rows = [_ROW.match(line) for line in r.stderr.decode().splitlines()]
    saves = [row for row in rows if row and row["name"] == "saving state (--state checkpoints)"]
    # checkpoints come between chunks of lines (replay.py), and ten lines are one chunk: the one at
    # the log's end
    assert len(saves) == 1 and saves[0]["runs"] == "1"


def test_a_program_compiled_for_the_profile_decides_the_same_without_a_profiler():
    from policyengine.runtime.evaluator import Evaluator
    loaded = load_text([("p.policy", POLICY)])
    decided = []
    for compiled in (compile_program(loaded.program), compile_program(loaded.program, profile=True)):
        evaluator = Evaluator(compiled)                      # no lap given
        out = []
        for n, event in enumerate(EVENTS):
            out += evaluator.process(event, 1_000_000 * (n + 1))
        assert not evaluator.issues
        decided.append(out)
    assert decided[0] == decided[1] and len(decided[0]) == 3 + 4 + 2


def test_an_embedded_engine_profiles_its_calls_and_not_the_time_between(monkeypatch):
    import time as real_time
    from policyengine import Engine
    plain, profiled = Engine.from_text(POLICY), Engine.from_text(POLICY, profile=True)
    decided = [[], []]
    for n, event in enumerate(EVENTS):
        event = dict(event, ts=n + 1)
        decided[0] += plain.process(event)
        decided[1] += profiled.process(event)
        if n == 4:
            real_time.sleep(0.2)                          # the bot's own time: no section's
    assert decided[0] == decided[1] and len(decided[0]) == 9
    real_time.sleep(0.2)                                  # and again before advance: no section's
    assert profiled.advance(100) == plain.advance(100) == []     # no timer in POLICY
    profile = profiled.profile()
    rows = {row["name"]: row for row in profile["sections"]}
    assert {name: rows[name]["runs"] for name in ("p/busy", "p/hello", "p/liked", "p/quiet")} == \
        {"p/busy": 7, "p/hello": 4, "p/liked": 3, "p/quiet": 0}
    assert "validating events, the engine's own steps" in rows
    assert rows["timers (ladders, silences, periods)"]["runs"] == 1      # advance's, profiled too
    assert profile["total_ns"] < 100_000_000             # ten events and advance, not the 2 × 200 ms between
    try:
        plain.profile()
    except RuntimeError as err:
        assert "profile=True" in str(err)
    else:
        raise AssertionError("an engine loaded without profile=True gave a profile")


# Two rules needing words of the text in a row share one word test (codegen: _guarded); `hello`
# needs none. Of the four messages, by hand: two hold a word ("buy", "spam"), so the test runs four
# times and each guarded rule twice; `buy` fires on one message and stops nothing.
GUARDED = """policy p
rule buy {
  on message
  when text contains "buy"
  do warn("no ads")
}
rule spam {
  on message
  when text contains "spam"
  do warn("no spam")
}
rule hello {
  on message
  do warn("hi")
}
"""


def test_a_word_test_before_rules_is_a_row_of_its_own(tmp_path):
    texts = ["buy now", "hello", "spam spam", "good morning"]
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps({"type": "message", "ts": f"2026-11-02T10:00:0{n}Z", "user": "u1",
                                           "id": f"e{n}", "text": text}) + b"\n" for n, text in enumerate(texts)))
    policy = tmp_path / "p.policy"
    policy.write_text(GUARDED, encoding="utf-8")
    r = run_cli("eval", "--profile", "--quiet", "--policy", str(policy), str(log))
    assert r.returncode == 0 and r.stdout.count(b"\n") == 2 + 4
    runs = _runs(r.stderr.decode())
    assert runs["`on message` word tests before its rules"] == 4
    assert (runs["p/buy"], runs["p/spam"], runs["p/hello"]) == (2, 2, 4)
    # a lap before the test only where the program is compiled for the profile
    program = load_text([("p.policy", GUARDED)]).program
    assert "LAP" not in compile_program(program).source


def test_the_group_tests_inside_a_long_guarded_run_are_word_tests_too(tmp_path):
    # 24 rules, each its own word: one test for the run, then (for a text that passes it) one for
    # each group of 8 (codegen: _grouped). By hand, texts "w0 here" and "hello": the run's test
    # twice, the groups' three times for the first text: 5; rule w0 runs once, w8 never (its
    # group's test fails).
    policy = tmp_path / "p.policy"
    policy.write_text("policy p\n" + "".join(f'rule w{i} {{\n  on message\n  when text contains "w{i}"\n'
                                            f'  do warn("w{i}")\n}}\n' for i in range(24)), encoding="utf-8")
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps({"type": "message", "ts": f"2026-11-02T10:00:0{n}Z", "user": "u1",
                                           "id": f"e{n}", "text": text}) + b"\n"
                             for n, text in enumerate(["w0 here", "hello"])))
    r = run_cli("eval", "--profile", "--quiet", "--policy", str(policy), str(log))
    assert r.returncode == 0 and r.stdout.count(b"\n") == 1
    runs = _runs(r.stderr.decode())
    assert runs["`on message` word tests before its rules"] == 5 and (runs["p/w0"], runs["p/w8"]) == (1, 0)


def test_the_timers_time_after_a_silence_rule_they_ran_is_the_timers(monkeypatch):
    # A timer fires at 100, runs silence rule 0 (its lap at 130; done at 200), then goes on with
    # its own bookkeeping until 260: 70 ns are the rule's, 30 + 60 the timers'. Without handing the
    # time back, the 60 after the rule were charged to the rule.
    monkeypatch.setattr(profile_module.time, "perf_counter_ns", _Clock([0, 100, 130, 200, 260]))
    profile = Profile([("p/silent", "rule")])                      # reads 0: the start
    timers = profile.section("timers (ladders, silences, periods)", "engine")
    rule = timed(profile, None, lambda: profile.lap(0))
    outer = profile.enter(timers)                        # 100
    rule()                                               # 130: the rule's lap; 200: back to the timers
    profile.leave(outer)                                 # 260
    assert profile.ns[0] == 70 and profile.ns[timers] == 30 + 60 and profile.current == outer
    assert profile.runs[0] == 1 and profile.runs[timers] == 1


def test_a_profiled_evaluator_hands_the_time_after_a_silence_rule_back_to_the_timers(monkeypatch):
    # The clock moves 1 ns a reading, and a million when the timers settle after firing (the end of
    # fire_until): that million is the timers' own, never the silence rule's, which the timers ran
    # just before (u1 silent for a minute, found silent by the event of u2 two minutes on).
    ticks = [0]

    def clock():
        ticks[0] += 1
        return ticks[0]
    monkeypatch.setattr(profile_module.time, "perf_counter_ns", clock)
    loaded = load_text([("p.policy", "policy p\nrule silent {\n  on absence(message by user for 1m)\n"
                                     '  do warn("quiet")\n}\n')])
    evaluator, profile = profiled_evaluator(compile_program(loaded.program, profile=True))
    timeline = evaluator.timeline
    settle = timeline.store.settle_due

    def slow_settle():
        ticks[0] += 1_000_000
        settle()
    monkeypatch.setattr(timeline.store, "settle_due", slow_settle)
    profile.start()
    out = evaluator.process({"type": "message", "ts": "2026-11-02T10:00:00Z", "user": "u1", "id": "e1"},
                            1_000_000_000)
    out += evaluator.process({"type": "message", "ts": "2026-11-02T10:02:00Z", "user": "u2", "id": "e2"},
                             1_120_000_000)
    profile.close()
    assert [d["rule"] for d in out] == ["silent"]
    rows = {row.name: row for row in profile.sections()}
    assert rows["p/silent"].runs == 1 and rows["p/silent"].ns < 1_000
    assert rows["timers (ladders, silences, periods)"].ns > 1_000_000

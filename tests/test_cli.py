"""The command line through a subprocess: stdout, stderr and exit codes, as users see them."""
import gc
import gzip
from pathlib import Path

import orjson
import pytest

from conftest import ROOT, run_cli

GOLDEN = Path(__file__).parent / "golden" / "cli"
SMALL = GOLDEN / "small.jsonl"
ADS = "policies/examples/ads.policy"


def _lines(blob: bytes) -> list[dict]:
    return [orjson.loads(line) for line in blob.splitlines() if line.strip()]


def test_check_accepts_the_bundled_policies():
    r = run_cli("check", "policies")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().startswith("ok: 7 files")


def test_check_reports_errors_with_exit_2_and_positions():
    r = run_cli("check", "tests/golden/diagnostics/unknown_field.policy")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "error[C0203]: unknown field `txt` on event `message`" in err
    assert "--> tests/golden/diagnostics/unknown_field.policy:3:20" in err
    assert "help: did you mean `text`?" in err
    assert "Traceback" not in err


def test_check_json_gives_the_same_diagnostics_as_objects():
    r = run_cli("check", "--format", "json", "tests/golden/diagnostics/names.policy")
    assert r.returncode == 2
    items = orjson.loads(r.stdout)
    codes = [d["code"] for d in items]
    assert codes == ["C0102", "C0103", "C0201", "C0203", "C0503", "C0204", "C0203", "C0205"]
    assert items[0]["span"] == {"file": "tests/golden/diagnostics/names.policy", "line": 2, "col": 5,
                                "end_line": 2, "end_col": 7}


def test_check_missing_path_is_a_usage_error():
    r = run_cli("check", "no/such/dir")
    assert r.returncode == 3
    assert "no/such/dir: no such file or folder" in r.stderr.decode()


def test_eval_requires_a_policy():
    r = run_cli("eval", str(SMALL))
    assert r.returncode == 3
    assert "--policy" in r.stderr.decode()


def test_eval_reports_each_bad_line_and_evaluates_the_rest():
    r = run_cli("eval", "--policy", ADS, str(SMALL))
    assert r.returncode == 0
    err = r.stderr.decode()
    name = str(SMALL)
    assert f"{name}:4: error[E0101]: invalid JSON" in err
    assert f"{name}:6: error[E0101]: missing required field `user`" in err
    assert f"{name}:9: error[E0101]: `text` must be a string on `message` events, found a number" in err
    assert f"{name}:10: error[E0101]: `ts` is not an RFC 3339 time: 'yesterday'" in err
    assert ":8:" not in err                   # a blank line is neither an event nor an error
    decisions = _lines(r.stdout)
    # m2, m3, m5, m8 are ads. m2's `+08:00` puts it at 00:00:10Z, after an event at 08:00:05Z: it is
    # late, so it is evaluated at 08:00:05Z. m5 (08:02:30Z) then has m2, m3, m5 within ten minutes.
    assert [(d["action"], d["event_id"]) for d in decisions] == [
        ("delete", "m2"), ("delete", "m3"), ("delete", "m5"), ("mute", "m5"), ("delete", "m8")]
    assert decisions[0]["ts"] == "2026-11-01T08:00:05Z"
    assert f"{name}:3: warning[W0102]: event is older than the latest event (28795 s behind)" in err
    assert "late events                1" in err
    assert "events read                6" in err and "bad lines                  4" in err


def test_eval_strict_stops_at_the_first_bad_line():
    r = run_cli("eval", "--strict", "--policy", ADS, str(SMALL))
    assert r.returncode == 3
    assert f"{SMALL}:4: error[E0101]" in r.stderr.decode()
    assert [d["event_id"] for d in _lines(r.stdout)] == ["m2"]


def test_eval_text_format_matches_golden(update_golden):
    r = run_cli("eval", "--quiet", "--format", "text", "--policy", "policies/examples", str(SMALL.relative_to(ROOT)))
    golden = GOLDEN / "small.text.out"
    if update_golden:
        golden.write_bytes(r.stdout)
    assert r.stdout.decode() == golden.read_text(encoding="utf-8")


def test_eval_reads_stdin_and_writes_out_file(tmp_path):
    out = tmp_path / "d.jsonl"
    r = run_cli("eval", "--policy", ADS, "--out", str(out), "-", stdin=SMALL.read_bytes())
    assert r.returncode == 0
    assert r.stdout == b""
    assert len(_lines(out.read_bytes())) == 5
    assert "<stdin>:4: error[E0101]" in r.stderr.decode()


def test_eval_reads_gzip_and_reports_a_cut_short_file(tmp_path):
    blob = gzip.compress(SMALL.read_bytes())
    whole = tmp_path / "log.jsonl.gz"
    whole.write_bytes(blob)
    r = run_cli("eval", "--quiet", "--policy", ADS, str(whole))
    assert r.returncode == 0 and len(_lines(r.stdout)) == 5
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(blob[: len(blob) - 12])
    r = run_cli("eval", "--quiet", "--policy", ADS, str(cut))
    assert r.returncode == 0
    assert "error[E0102]: the compressed log is damaged or cut short" in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


def test_eval_with_policy_errors_exits_2_before_reading(tmp_path):
    r = run_cli("eval", "--policy", "tests/golden/diagnostics/types.policy", str(SMALL))
    assert r.returncode == 2
    assert "error[C0401]" in r.stderr.decode() and r.stdout == b""


def test_eval_missing_log_is_a_usage_error():
    r = run_cli("eval", "--policy", ADS, "nope.jsonl")
    assert r.returncode == 3 and "nope.jsonl: no such log file" in r.stderr.decode()


def test_eval_of_a_directory_or_a_pipe_by_name_says_what_it_is(tmp_path):
    import os
    fifo = tmp_path / "log.pipe"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo):
        r = run_cli("eval", "--policy", ADS, str(path))
        message = r.stderr.decode()
        assert r.returncode == 3 and r.stdout == b""
        assert f"{path}: not a regular file (give a pipe's lines on standard input: `-`)" in message
        assert "no such log file" not in message and "Traceback" not in message


def test_a_rule_that_fails_at_run_time_is_skipped_and_named(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text('rule fragile { on message where event.meta + 1 > 2 do flag("x") }\n'
                      'rule steady { on message do warn("hi") }\n', encoding="utf-8")
    log = b'{"type":"message","ts":1,"user":"u","id":"m1","meta":{"a":1},"text":"t"}\n' \
          b'{"type":"message","ts":2,"user":"u","id":"m2","meta":5,"text":"t"}\n'
    r = run_cli("eval", "--policy", str(policy), "-", stdin=log)
    assert r.returncode == 0
    err = r.stderr.decode()
    assert "<stdin>:1: error[R0001]: rule `p/fragile`" in err and "on event `m1`" in err
    assert [(d["rule"], d["event_id"]) for d in _lines(r.stdout)] == [
        ("steady", "m1"), ("fragile", "m2"), ("steady", "m2")]
    assert "Traceback" not in err


def test_help_documents_exit_codes():
    r = run_cli("eval", "--help")
    out = r.stdout.decode()
    assert r.returncode == 0 and "exit codes:" in out and "3  usage or I/O error" in out


@pytest.mark.parametrize("args", [("frobnicate",), ("eval",), ("check",), ()])
def test_usage_errors_exit_3_without_traceback(args):
    r = run_cli(*args)
    assert r.returncode == 3
    assert b"Traceback" not in r.stderr


def test_progress_line_when_asked(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(b'{"type":"checkin","ts":%d,"user":"u"}\n' % i for i in range(10_000)))
    r = run_cli("eval", "--progress", "always", "--quiet", "--policy", ADS, str(log))
    assert r.returncode == 0
    assert b"log.jsonl:" in r.stderr and b"events," in r.stderr and b"\r" in r.stderr
    r = run_cli("eval", "--quiet", "--policy", ADS, str(log))        # not a terminal: no progress line
    assert r.stderr == b""


def test_policy_test_command_names_failing_cases_with_a_diff(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "p.policy").write_text('rule hi { on message do warn("hello") }\n')
    (tmp_path / "tests" / "cases.toml").write_text(
        'policy_file = "../p.policy"\n\n'
        '[[case]]\nname = "passes"\nevents = [ {at = "+0s", type = "message", user = "u", id = "m1"} ]\n'
        'expect = [ {action = "warn", message = "hello"} ]\n\n'
        '[[case]]\nname = "fails"\nevents = [ {at = "+0s", type = "message", user = "u", id = "m1"} ]\n'
        'expect = [ {action = "warn", message = "bye"} ]\n')
    r = run_cli("test", str(tmp_path))
    out = r.stdout.decode()
    assert r.returncode == 1
    assert f"{tmp_path}/tests/cases.toml:8: FAILED: fails" in out
    assert "- {action='warn', message='bye'}" in out and "+ {rule='hi', action='warn', message='hello'}" in out
    assert out.rstrip().endswith("1 passed, 1 failed")
    r = run_cli("test", "--format", "json", str(tmp_path))
    report = orjson.loads(r.stdout)
    assert (report["passed"], report["failed"]) == (1, 1) and report["cases"][1]["line"] == 8


def test_policy_test_command_passes_on_the_bundled_pack():
    r = run_cli("test", "policies")
    assert r.returncode == 0 and b" passed, 0 failed" in r.stdout


def test_diff_reports_changed_added_and_removed_decisions(tmp_path):
    old = tmp_path / "old.policy"
    old.write_text('rule mute_ads { on message where text contains "ad" when count(message where text contains "ad" '
                   'by user within 10m) >= 3 do mute(1h) cooldown 1h per user }\n')
    longer = tmp_path / "longer.policy"
    longer.write_text(old.read_text().replace("mute(1h)", "mute(2h)"))
    earlier = tmp_path / "earlier.policy"
    earlier.write_text(old.read_text().replace(">= 3", ">= 2"))
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(b'{"type":"message","ts":%d,"user":"%s","id":"m%d","text":"ad"}\n' % (i * 60, u, i)
                             for i, u in enumerate([b"a", b"a", b"a", b"b", b"b"])))
    r = run_cli("diff", "--format", "json", "--policy", str(old), "--against", str(longer), str(log))
    report = orjson.loads(r.stdout)
    # Only a reaches three ads (m2): the same mute, twice as long.
    assert (report["added"], report["removed"], report["changed"], report["members_affected"]) == (0, 0, 1, 1)
    change = report["groups"][0]["examples"][0]
    assert change["before"]["duration_s"] == 3600 and change["after"]["duration_s"] == 7200
    r = run_cli("diff", "--policy", str(old), "--against", str(earlier), str(log))
    out = r.stdout.decode()
    # At >= 2: a is muted at m1 (cooldown covers m2), b at m4. Old: a at m2 only.
    assert "decisions added 2, removed 1, changed 0; members affected 2" in out
    assert "old/mute_ads mute" not in out and "mute_ads mute: +2 −1 ~0" in out


def test_policy_test_command_checks_member_state(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "p.policy").write_text('rule pts { on message do award_points(2) }\n')
    (tmp_path / "tests" / "c.toml").write_text(
        'policy_file = "../p.policy"\n[[case]]\nname = "state"\n'
        'events = [ {at = "+0s", type = "message", user = "u", id = "m1"} ]\n'
        'expect_members = { u = { points = 3 } }\n')
    r = run_cli("test", str(tmp_path))
    assert r.returncode == 1 and b"member u: points is 2, expected 3" in r.stdout


def test_allowed_lateness_silences_small_delays_only(tmp_path):
    log = tmp_path / "late.jsonl"
    log.write_text('{"type":"checkin","ts":100,"user":"a"}\n{"type":"checkin","ts":95,"user":"b"}\n'
                   '{"type":"checkin","ts":50,"user":"c"}\n')
    r = run_cli("eval", "--quiet", "--allowed-lateness", "10", "--policy", ADS, str(log))
    assert b":2: warning[W0102]" not in r.stderr and b":3: warning[W0102]" in r.stderr


def test_diff_examples_are_the_first_differences_in_log_order(tmp_path, monkeypatch):
    # The new version also warns on "y": six more warnings, m1 m2 m4 m5 m7 m8 (m0, m3, m6 say "x",
    # warned by both). The examples are the first three, m1 m2 m4, whatever the hash seed.
    old = tmp_path / "old.policy"
    old.write_text('rule w { on message where text contains "x" do warn("no") }\n')
    new = tmp_path / "new.policy"
    new.write_text('rule w { on message where text contains "x" or text contains "y" do warn("no") }\n')
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(b'{"type":"message","ts":%d,"user":"u%d","id":"m%d","text":"%s"}\n'
                             % (i, i, i, b"x" if i % 3 == 0 else b"y") for i in range(9)))
    outs = []
    for seed in ("1", "2", "3"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        r = run_cli("diff", "--format", "json", "--policy", str(old), "--against", str(new), str(log))
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
    report = orjson.loads(outs[0])
    assert (report["added"], report["removed"], report["changed"]) == (6, 0, 0)
    assert [e["after"]["event_id"] for e in report["groups"][0]["examples"]] == ["m1", "m2", "m4"]


def test_diff_reads_standard_input_for_both_versions(tmp_path):
    # Both versions replay the log: standard input, read once, must reach both. Hand-counted as in
    # the test above: "y" in m1 m2 m4 m5 m7 m8, six warnings added; line 10 is not JSON.
    old = tmp_path / "old.policy"
    old.write_text('rule w { on message where text contains "x" do warn("no") }\n')
    new = tmp_path / "new.policy"
    new.write_text('rule w { on message where text contains "x" or text contains "y" do warn("no") }\n')
    log = b"".join(b'{"type":"message","ts":%d,"user":"u%d","id":"m%d","text":"%s"}\n'
                   % (i, i, i, b"x" if i % 3 == 0 else b"y") for i in range(9)) + b"not json\n"
    r = run_cli("diff", "--format", "json", "--policy", str(old), "--against", str(new), "-", stdin=log)
    assert r.returncode == 0, r.stderr
    report = orjson.loads(r.stdout)
    assert (report["events"], report["bad_lines"], report["added"], report["removed"]) == (9, 1, 6, 0)
    assert r.stderr.decode().count("<stdin>:10: error[E0101]") == 1      # said once, not by each version


def test_diff_says_plainly_when_standard_input_cannot_be_copied(monkeypatch, capsys):
    import shutil

    from policyengine.cli import exits
    from policyengine.cli.main import main

    def full(*_):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(shutil, "copyfileobj", full)
    code = main(["diff", "--policy", ADS, "--against", ADS, "-"])
    err = capsys.readouterr().err
    assert code == exits.USAGE and "cannot write a temporary file" in err and "No space left" in err
    assert "internal error" not in err and "Traceback" not in err


def test_diff_reports_a_cut_short_log_and_compares_what_came_before(tmp_path):
    blob = gzip.compress(SMALL.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(blob[: len(blob) - 12])
    r = run_cli("diff", "--format", "json", "--policy", ADS, "--against", ADS, str(cut))
    assert r.returncode == 0 and b"error[E0102]" in r.stderr and b"Traceback" not in r.stderr
    report = orjson.loads(r.stdout)
    assert report["events"] >= 1 and (report["added"], report["removed"], report["changed"]) == (0, 0, 0)


def test_eval_leaves_the_cycle_collector_as_it_found_it(tmp_path):
    # eval quiets the collector for its run only; a process that called it keeps its settings.
    from policyengine.cli.main import main
    log = tmp_path / "log.jsonl"
    log.write_text('{"type":"message","ts":"2026-11-02T00:00:00Z","user":"u1","text":"hi"}\n')
    before = gc.get_threshold(), gc.get_freeze_count()
    assert main(["eval", "--quiet", "--progress", "never", "--policy", str(ROOT / "policies/examples"),
                 "--out", str(tmp_path / "out.jsonl"), str(log)]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_rule_whose_for_member_is_missing_does_not_evaluate_its_conditions(tmp_path):
    # docs/language.md: with `for target_user` missing, the rule cannot fire, and its conditions
    # are not worked out (so the one that would fail on r1 is not reported there).
    policy = tmp_path / "p.policy"
    policy.write_text('rule fragile { on reaction for target_user when event.meta + 1 > 2 do flag("x") }\n',
                      encoding="utf-8")
    log = b'{"type":"reaction","ts":1,"user":"u","id":"r1","meta":{"a":1}}\n' \
          b'{"type":"reaction","ts":2,"user":"u","id":"r2","meta":{"a":1},"target_user":"v"}\n' \
          b'{"type":"reaction","ts":3,"user":"u","id":"r3","meta":5,"target_user":"v"}\n'
    r = run_cli("eval", "--policy", str(policy), "-", stdin=log)
    assert r.returncode == 0
    err = r.stderr.decode()
    assert "<stdin>:2: error[R0001]: rule `p/fragile`" in err and "<stdin>:1:" not in err
    assert [(d["rule"], d["user"], d["event_id"]) for d in _lines(r.stdout)] == [("fragile", "v", "r3")]


@pytest.mark.parametrize("option,value,said", [
    ("--max-line-bytes", "0", "give 1 or more"), ("--max-line-bytes", "-1", "give 1 or more"),
    ("--checkpoint-every", "0", "give 1 or more"), ("--checkpoint-seconds", "-1", "give 0 or more"),
    ("--allowed-lateness", "-3", "give 0 to"), ("--allowed-lateness", "nan", "give 0 to"),
    ("--allowed-lateness", "inf", "give 0 to"), ("--max-line-bytes", "many", "give a number")])
def test_eval_refuses_numbers_out_of_range_with_a_usage_error(tmp_path, option, value, said):
    # Each was taken: every line "longer than -1 bytes", a checkpoint at every chance, and an
    # infinite lateness an internal error.
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "message", "ts": "2026-11-01T08:00:00Z", "user": "u1", "text": "hi"}\n')
    r = run_cli("eval", "--policy", "policies/examples", option, value, str(log))
    assert r.returncode == 3 and f"argument {option}: {said}".encode() in r.stderr
    assert b"Traceback" not in r.stderr and r.stdout == b""


_CONTROLLING = [
    '{"type":"message","ts":"2026-11-01T08:00:00Z","user":"u\\u001b[2J","id":"m1","text":"加微信 http://x.cn 加微信"}',
    '{"type":"message","ts":"2026-11-01T08:00:01Z","user":"a\\nb","id":"m2\\r\\u0007","text":"加微信 http://x.cn"}',
    '{"type":"message","ts":"2026-11-01T08:00:02Z","user":"c\\u009bd","id":"m3","text":"加微信 http://x.cn"}']


def test_text_output_shows_control_characters_from_events_escaped_one_line_a_decision(tmp_path):
    # A member named "\x1b[2J" cleared the moderator's terminal, and a newline in a name split a
    # decision's line in two; as JSON they were always escaped.
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(_CONTROLLING) + "\n", encoding="utf-8")
    r = run_cli("eval", "--format", "text", "--policy", "policies/examples/ads.policy", str(log))
    assert r.returncode == 0
    lines = r.stdout.decode("utf-8").splitlines()
    decisions = orjson.loads(b"[" + b",".join(run_cli("eval", "--policy", "policies/examples/ads.policy",
                                                      str(log)).stdout.splitlines()) + b"]")
    assert len(lines) == len(decisions) == 3                     # one line a decision
    assert not any(c < " " or "\x7f" <= c <= "\x9f" for line in lines for c in line)
    assert "user=u\\x1b[2J" in lines[0] and "user=a\\nb message_id=m2\\r\\x07" in lines[1]
    assert "user=c\\x9bd" in lines[2]


def test_diff_and_state_show_show_control_characters_escaped(tmp_path):
    from policyengine.cli.diff_cmd import render
    report = {"events": 1, "bad_lines": 0, "added": 1, "removed": 0, "changed": 0, "members_affected": 1,
              "groups": [{"rule": "r", "action": "warn", "added": 1, "removed": 0, "changed": 0,
                          "examples": [{"kind": "added", "before": None,
                                        "after": {"ts": "t", "user": "u\x1b[2J", "event_id": "e\n1"}}]}]}
    text = render(report)
    assert "user=u\\x1b[2J event=e\\n1" in text and "\x1b" not in text and text.count("\n") == 5   # five lines
    log, state = tmp_path / "log.jsonl", tmp_path / "s.db"
    log.write_text("\n".join(_CONTROLLING) + "\n", encoding="utf-8")
    assert run_cli("eval", "--quiet", "--policy", "policies/examples", "--state", str(state), str(log)).returncode == 0
    shown = run_cli("state", "show", "--state", str(state), "--user", "a\nb")
    assert shown.returncode == 0 and shown.stdout.startswith(b"member a\\nb\n") and b"\x1b" not in shown.stdout
    assert len(shown.stdout.splitlines()) > 1                     # something about the member shown


@pytest.mark.parametrize("flag", ["--out", "--report", "--profile-out", "--state"])
def test_eval_refuses_to_write_over_the_log_it_reads(tmp_path, flag):
    # `--out log.jsonl log.jsonl` emptied the log before a line was read, and exited 0 having
    # evaluated nothing.
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "message", "ts": "2026-11-01T08:00:00Z", "user": "u1", "text": "加微信 x"}\n',
                   encoding="utf-8")
    before = log.read_bytes()
    r = run_cli("eval", "--policy", "policies/examples", flag, str(log), str(log))
    assert r.returncode == 3 and r.stdout == b""
    assert f"error[E0001]: {flag} {log}: it is also a log read".encode() in r.stderr
    assert log.read_bytes() == before


def test_eval_refuses_one_file_for_two_outputs_or_a_policy_file(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "message", "ts": "2026-11-01T08:00:00Z", "user": "u1", "text": "x"}\n')
    out = tmp_path / "out"
    r = run_cli("eval", "--policy", "policies/examples", "--out", str(out), "--state", str(out), str(log))
    assert r.returncode == 3 and f"--out {out}: it is also --state's file".encode() in r.stderr
    assert not out.exists()
    policy = tmp_path / "p.policy"
    policy.write_text('rule r { on message when text contains "x" do flag("x") }\n')
    r = run_cli("eval", "--policy", str(policy), "--out", str(policy), str(log))
    assert r.returncode == 3 and b"it is also a policy file" in r.stderr
    assert policy.read_text().startswith("rule r")


@pytest.mark.parametrize("how", ["--out", "standard output", "standard output, two workers"])
def test_a_full_disk_under_the_decisions_is_an_io_error_not_a_bug(tmp_path, how):
    # /dev/full: every write fails with ENOSPC. It was error[E0999] (a bug), exit 4.
    import subprocess
    import sys
    log = tmp_path / "log.jsonl"
    log.write_text("".join('{"type": "message", "ts": "2026-11-01T08:00:%02dZ", "user": "u%d", "text": "加微信 x"}\n'
                           % (i, i % 7) for i in range(60)), encoding="utf-8")
    argv = [sys.executable, "-m", "policyengine", "eval", "--quiet", "--policy", "policies/examples/ads.policy"]
    argv += ["--out", "/dev/full"] if how == "--out" else []
    argv += ["--workers", "2"] if "two" in how else []
    with open("/dev/full", "wb") as full:
        r = subprocess.run(argv + [str(log)], stdout=full, stderr=subprocess.PIPE, cwd=ROOT, timeout=120)
    name = "/dev/full" if how == "--out" else "standard output"
    assert r.returncode == 3
    assert r.stderr.decode() == f"error[E0001]: {name}: cannot write the decisions: No space left on device\n"


@pytest.mark.parametrize("command", [["check", "--format", "json", "policies/community"], ["schema", "events"],
                                     ["diff", "--policy", "policies/examples", "--against", "policies/examples", "LOG"],
                                     ["test", "policies/community"]])
def test_every_command_says_a_full_disk_under_its_output_plainly(tmp_path, command):
    # Each was error[E0999] ... this is a bug, exit 4.
    import subprocess
    import sys
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "message", "ts": "2026-11-01T08:00:00Z", "user": "u1", "text": "x"}\n')
    argv = [sys.executable, "-m", "policyengine", *[str(log) if a == "LOG" else a for a in command]]
    with open("/dev/full", "wb") as full:
        r = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, cwd=ROOT, timeout=120)
    assert r.returncode == 3
    assert r.stderr.decode().startswith("error[E0001]: No space left on device\n  = help: the machine refused")
    assert b"internal error" not in r.stderr and b"Traceback" not in r.stderr

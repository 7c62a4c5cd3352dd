"""`eval --workers N`: the same decisions and messages as one worker, or one worker and a note saying why."""
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from policyengine.cli import eval_cmd
from policyengine.cli.workers_option import AUTO_MIN_BYTES, auto_workers
from policyengine.cli.main import main
from policyengine.compiler.partition import blocker, blockers
from policyengine.loader import load_text
from tests.conftest import run_cli
from tests.test_records import _log_bytes
from benchmarks.loggen import generate

# Timers of every kind the examples use: mutes that end (ladder), silence nudges (absence), and
# `--until` firing what is still pending at the end; late events and bad lines from HOSTILE.
UNTIL = "2026-12-31T00:00:00Z"


def _eval(log, workers: int, *extra: str):
    return run_cli("eval", "--quiet", "--workers", str(workers), "--policy", "policies/examples",
                   "--until", UNTIL, *extra, str(log))


def test_two_and_three_workers_give_one_workers_output_byte_for_byte(mixed_log):
    one = _eval(mixed_log, 1)
    assert one.returncode == 0
    decisions = [orjson.loads(x) for x in one.stdout.splitlines()]
    actions = {d["action"] for d in decisions}
    # The comparison covers timers (silence nudges fire from the heap), ladders, and late lines.
    assert {"delete", "mute", "ban", "notify", "promote", "warn"} <= actions   # notify: silence timers
    assert b"warning[W0102]" in one.stderr and b"error[E0101]" in one.stderr
    for n in (2, 3):
        many = _eval(mixed_log, n)
        assert many.returncode == 0
        assert many.stdout == one.stdout
        assert many.stderr == one.stderr


def test_strict_stops_every_worker_at_the_first_bad_line(mixed_log):
    one, two = _eval(mixed_log, 1, "--strict"), _eval(mixed_log, 2, "--strict")
    assert one.returncode == two.returncode == 3
    assert (one.stdout, one.stderr) == (two.stdout, two.stderr)


def test_a_program_with_state_across_members_runs_on_one_worker_and_says_why(mixed_log):
    r = run_cli("eval", "--quiet", "--workers", "2", "--policy", "policies/community", str(mixed_log))
    assert r.returncode == 0
    note = [line for line in r.stderr.decode().splitlines() if line.startswith("note: --workers 2")]
    # the pack's leaderboard splits now; its copypasta rule, a count by text, does not
    assert len(note) == 1 and "running on one worker: rule `copypasta`: `distinct(user of message by normalize(text)" in note[0]
    line = int(note[0].split("(policies/community/rules.policy:")[1].split(")")[0])
    assert Path("policies/community/rules.policy").read_text().splitlines()[line - 1].startswith("rule copypasta")


# Leaderboards whose scores are each member's own — points, counts by user, `among newcomers` —
# split: each worker writes its part of the board at a close, ranks the whole and awards its own.
# Daily closes (two in the log, five more from --until), ties at the points cap (30 a day),
# level-ups inside a winner's awards (their decisions vary in number), and a block in UTC.
BOARDS = """policy board
points points {
  cap 30 per day
  tz "Asia/Shanghai"
}
levels member_level by points {
  0 "new"
  20 "active" => promote("active")
}
rule chatty {
  on message where len(text) >= 5
  do award_points(1)
  cooldown 30s per user
}
rule checkin {
  on checkin
  do award_points(3)
  once per user, date(ts, "Asia/Shanghai")
}
every day tz "Asia/Shanghai" {
  top 3 by points => award_badge("star"), award_points(5), notify(user, "{count} today")
  top 2 by count(message) => award_badge("chatty")
  top 2 by count(message where len(text) >= 20) among newcomers => award_badge("newcomer")
}
every day tz "UTC" {
  top 4 by count(checkin) => award_badge("early")
}
"""


def _generated_log(tmp_path_factory, folder: str, events: int, seed: int):
    """benchmarks.loggen's events as a log file: no bad lines, no late events."""
    path = tmp_path_factory.mktemp(folder) / f"{folder}.jsonl"
    with open(path, "wb") as f:
        for event in generate(events, seed=seed):
            f.write(orjson.dumps(event) + b"\n")
    return path


@pytest.fixture(scope="module")
def clean_log(tmp_path_factory):
    return _generated_log(tmp_path_factory, "boards", 40_000, seed=11)


def test_leaderboards_split_and_give_one_workers_decisions(tmp_path, clean_log):
    policy = tmp_path / "board.policy"
    policy.write_text(BOARDS)
    runs = {n: run_cli("eval", "--workers", str(n), "--until", "2026-11-09T00:00:00Z", "--policy", str(policy),
                       str(clean_log)) for n in (1, 2, 3)}
    assert all(r.returncode == 0 for r in runs.values())
    assert _summary_workers(runs[2].stderr) == 2 and _summary_workers(runs[3].stderr) == 3
    assert runs[2].stdout == runs[1].stdout and runs[3].stdout == runs[1].stdout
    decisions = [orjson.loads(line) for line in runs[1].stdout.splitlines()]
    awards = [d for d in decisions if d["rule"].startswith("every_day")]
    # a block's n-th award is rule every_day_n: the Shanghai block closes at 16:00Z, the UTC one
    # at midnight; after the log, the points awarded at a close are the next day's points board
    closes = {(d["rule"], d["action"], d["ts"]) for d in awards}
    assert ("every_day_1", "award_badge", "2026-11-02T16:00:00Z") in closes
    assert ("every_day_1", "award_badge", "2026-11-03T00:00:00Z") in closes          # the UTC block's
    assert ("every_day_1", "award_badge", "2026-11-08T16:00:00Z") in closes
    stars = [d["user"] for d in awards if d["rule"] == "every_day_1" and d["action"] == "award_badge"
             and d["ts"] == "2026-11-02T16:00:00Z"]
    assert len(stars) == 3 and len(set(stars)) == 3
    assert {"award_badge", "award_points", "notify"} <= {d["action"] for d in awards}


def test_a_worker_that_left_before_a_close_stops_the_others_there(tmp_path):
    """A worker waiting for another's part of a board while that one has left: PeerGone (the run
    is then made again on one worker), not a wait for ever."""
    from policyengine.compiler.cache import load_compiled
    from policyengine.parallel import GONE, PeerGone, ShareEvaluator
    policy = tmp_path / "board.policy"
    policy.write_text(BOARDS)
    compiled = load_compiled([str(policy)])[1]
    evaluator = ShareEvaluator(compiled, 0, 2, None, 2, str(tmp_path))
    (tmp_path / (GONE % 1)).touch()
    with pytest.raises(PeerGone):
        evaluator._combine_board(0, 0, 123, {"u1": (5, 7)}, None)
    assert (tmp_path / "board-0-0-123-0").exists()           # its own part was written first
    # nor does it wait for ever on one that never comes (a worker that missed the close)
    from policyengine.parallel.share import _wait_for
    with pytest.raises(PeerGone):
        _wait_for(str(tmp_path / "never"), str(tmp_path / "nor-gone"), limit=0.05)
    # the other's part there (it wrote it, then left): joined, the members disallowed left out
    import msgspec
    (tmp_path / "board-0-1-123-1").write_bytes(msgspec.msgpack.encode({"u2": (9, 3)}))
    board = evaluator._combine_board(0, 1, 123, {"u1": (5, 7), "u3": (1, 1)}, lambda m: m != "u3")
    assert board == {"u1": (5, 7), "u2": (9, 3)}


def test_a_member_on_two_workers_boards_sends_the_run_to_one_worker_saying_so(tmp_path, clean_log, monkeypatch, capfd):
    """Were a member's events ever counted by two workers, their parts of a board would overlap at
    the close: the run goes to one worker, and the note says the board's close, not a refused line."""
    from policyengine.parallel import share as share_evaluator
    policy = tmp_path / "board.policy"
    policy.write_text(BOARDS)
    args = ["eval", "--until", "2026-11-09T00:00:00Z", "--policy", str(policy), str(clean_log)]
    one = run_cli(*args, "--workers", "1")
    assert one.returncode == 0
    monkeypatch.setattr(share_evaluator, "routed", None)          # the route below, through events/clock.py's taking
    monkeypatch.setattr(share_evaluator, "route", lambda lines, fields, shares, share, exchange=None: list(lines))  # all "mine"
    capfd.readouterr()
    code = main([*args, "--workers", "2"])
    got = capfd.readouterr()
    assert code == 0
    # the first close of the Shanghai block: midnight there, 16:00 UTC (the log starts 2026-11-02)
    assert got.err.startswith("note: --workers 2: running on one worker: a leaderboard's member was counted "
                              "by two workers (the close at 2026-11-02T16:00:00Z)\n"), got.err[:300]
    assert got.out.encode() == one.stdout
    # and a worker meeting another's part with one of its own members raises it
    from policyengine.compiler.cache import load_compiled
    from policyengine.parallel import BoardOverlap, ShareEvaluator
    evaluator = ShareEvaluator(load_compiled([str(policy)])[1], 0, 2, None, 2, str(tmp_path))
    import msgspec
    (tmp_path / "board-0-0-123-1").write_bytes(msgspec.msgpack.encode({"u1": (9, 3)}))
    with pytest.raises(BoardOverlap):
        evaluator._combine_board(0, 0, 123, {"u1": (5, 7)}, None)


@pytest.mark.parametrize("board,splits", [
    ("top 3 by points => award_badge(\"x\")", True),
    ("top 3 by count(message) among newcomers => award_badge(\"x\")", True),
    ("top 3 by count(reaction by target_user) => award_badge(\"x\")", False),     # counted where the reactions are
    ("top 300 by points => award_badge(\"x\")", False),                           # past what the merge can place
])
def test_which_leaderboards_split(board, splits):
    source = f"policy p\nrule r {{ on message do award_points(1) }}\nevery week {{\n  {board}\n}}\n"
    loaded = load_text([("p.policy", source)])
    assert loaded.program is not None, [d.message for d in loaded.diagnostics]
    found = blockers(loaded.program)
    assert (found == []) == splits, found
    if not splits:
        assert found[0].what.startswith("`every week`") and found[0].line == 3


@pytest.mark.parametrize("source,expected", [
    ('rule r { on message when count(message by user within 1m) > 3 do warn("x") }', None),
    ('rule r { on message when count(message by channel within 1m) > 3 do warn("x") }', "kept across members"),
    ('rule r { on message when count(message within 1m) > 3 do warn("x") }', "kept across members"),
    ('rule r { on message do warn("x") once }', "fires `once` across members"),
    ('rule r { on message do warn("x") cooldown 1m }', "cooldown across members"),
    ('rule r { on message when user.account_age < 1d do warn("x") }', "member tracker"),
])
def test_which_programs_split_by_member(source, expected):
    loaded = load_text([("p.policy", "policy p\n" + source + "\n")])
    assert loaded.program is not None, [d.message for d in loaded.diagnostics]
    found = blocker(loaded.program)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found.what


# Two of these three rules keep state across members (a count by channel, a `once` for everyone);
# the third counts by user. Lines: the policy header is line 1.
ACROSS = ("policy p\n"
          'rule by_channel { on message when count(message by channel within 1m) > 3 do warn("x") }\n'
          'rule once_for_all { on message do warn("x") once }\n'
          'rule by_member { on message when count(message by user within 1m) > 3 do warn("x") }\n')


def test_every_construct_across_members_is_listed_with_its_line():
    loaded = load_text([("p.policy", ACROSS)])
    assert loaded.program is not None, [d.message for d in loaded.diagnostics]
    found = blockers(loaded.program)
    assert [(b.line, b.where) for b in found] == [(2, "p.policy:2"), (3, "p.policy:3")]
    assert "`count(message by channel within 1m)` is kept across members" in found[0].what
    assert "fires `once` across members" in found[1].what
    assert blocker(loaded.program) == found[0]


def test_check_workers_notes_each_construct_and_says_whether_the_program_splits(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(ACROSS)
    r = run_cli("check", "--workers", str(policy))
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert err.count("note[N0701]") == 2
    assert f"--> {policy}:2:1" in err and f"--> {policy}:3:1" in err
    assert "2 notes" in err and "workers: runs on one worker: 2 constructs above keep state across members" in err
    r = run_cli("check", "--workers", "--format", "json", str(policy))
    notes = orjson.loads(r.stdout)
    assert [(n["code"], n["severity"], n["span"]["line"]) for n in notes] == [("N0701", "note", 2), ("N0701", "note", 3)]
    # without --workers, check says nothing of workers
    r = run_cli("check", str(policy))
    assert r.returncode == 0 and "N0701" not in r.stderr.decode() and "workers" not in r.stderr.decode()
    # a program that splits
    r = run_cli("check", "--workers", "policies/examples/ads.policy")
    assert r.returncode == 0 and "N0701" not in r.stderr.decode()
    assert "workers: splits by member" in r.stderr.decode()


def test_the_one_worker_note_counts_what_else_keeps_the_program_there(tmp_path, mixed_log):
    policy = tmp_path / "p.policy"
    policy.write_text(ACROSS)
    r = run_cli("eval", "--quiet", "--workers", "2", "--policy", str(policy), str(mixed_log))
    assert r.returncode == 0
    note = [line for line in r.stderr.decode().splitlines() if line.startswith("note: --workers 2")]
    assert len(note) == 1 and f"({policy}:2)" in note[0]
    assert "; 1 more construct keeps state across members: `policyengine check --workers` lists them all" in note[0]


def test_auto_takes_every_core_only_for_a_run_that_splits_and_logs_long_enough():
    big = AUTO_MIN_BYTES
    assert auto_workers(4, big, True) == 4
    assert auto_workers(4, big - 1, True) == 1            # too short for forking and merging to pay
    assert auto_workers(4, None, True) == 1               # a size unknown beforehand: standard input
    assert auto_workers(4, 10 * big, False) == 1          # a count by text, --state, --profile
    assert auto_workers(1, 10 * big, True) == 1


@pytest.fixture(scope="module")
def long_log(tmp_path_factory):
    """A generated log just past --workers auto's least size."""
    path = _generated_log(tmp_path_factory, "auto", 60_000, seed=3)
    assert path.stat().st_size >= AUTO_MIN_BYTES
    return path


def _summary_workers(stderr: bytes) -> int:
    """The workers the summary says ran: its `workers` line, which one worker's run has not."""
    for line in stderr.decode().splitlines():
        if line.startswith("workers "):
            return int(line.split()[1])
    return 1


def _eval_in_process(capsys, *args: str) -> tuple[int, int]:
    """`policyengine eval` run here (so that `_cores` can be set): its exit code and the workers its
    summary says ran."""
    capsys.readouterr()
    code = main(["eval", "--progress", "never", *args])
    return code, _summary_workers(capsys.readouterr().err.encode())


def test_auto_splits_a_long_log_among_the_cores_with_one_workers_decisions(long_log, mixed_log, tmp_path,
                                                                           monkeypatch, capsys):
    # Two cores whatever this machine has: on one core, auto's one worker would look like no split.
    monkeypatch.setattr(eval_cmd, "cores", lambda: 2)
    policy = ("--policy", "policies/examples/ads.policy", "--policy", "policies/examples/streak.policy")
    one = run_cli("eval", *policy, str(long_log))
    assert one.returncode == 0 and one.stdout.count(b"\n") > 100 and _summary_workers(one.stderr) == 1
    out = tmp_path / "auto.jsonl"
    assert _eval_in_process(capsys, "--workers", "auto", *policy, "--out", str(out), str(long_log)) == (0, 2)
    assert out.read_bytes() == one.stdout
    # with --report too (it splits since the thirty-first session): the same decisions and page
    pages = [tmp_path / "one.html", tmp_path / "auto.html"]
    assert run_cli("eval", *policy, "--report", str(pages[0]), "--out", str(tmp_path / "one.jsonl"),
                   str(long_log)).returncode == 0
    assert _eval_in_process(capsys, "--workers", "auto", *policy, "--report", str(pages[1]), "--out", str(out),
                            str(long_log)) == (0, 2)
    assert out.read_bytes() == one.stdout and pages[1].read_bytes() == pages[0].read_bytes()
    # a short log: one worker, and no note (auto chose; nothing was refused)
    short = run_cli("eval", "--workers", "auto", *policy, str(mixed_log))
    assert short.returncode == 0 and _summary_workers(short.stderr) == 1 and "note:" not in short.stderr.decode()
    assert short.stdout == run_cli("eval", *policy, str(mixed_log)).stdout


def test_auto_counts_the_cores_this_process_may_run_on(long_log):
    # One core allowed (as `taskset -c N` or a container gives it): one worker, on any machine.
    first = min(os.sched_getaffinity(0))
    policy = ("--policy", "policies/examples/ads.policy")
    pinned = subprocess.run([sys.executable, "-m", "policyengine", "eval", "--workers", "auto", *policy,
                             str(long_log)], capture_output=True, timeout=120,
                            preexec_fn=lambda: os.sched_setaffinity(0, {first}))
    assert pinned.returncode == 0 and _summary_workers(pinned.stderr) == 1


def test_auto_reads_a_gzipped_logs_size_from_its_trailer(long_log, tmp_path, monkeypatch, capsys):
    # 60 000 generated events compress to well under 8 MiB; their lines are past it
    import gzip
    monkeypatch.setattr(eval_cmd, "cores", lambda: 2)
    packed = tmp_path / "long.jsonl.gz"
    packed.write_bytes(gzip.compress(long_log.read_bytes()))
    assert packed.stat().st_size < AUTO_MIN_BYTES <= long_log.stat().st_size
    policy = ("--policy", "policies/examples/ads.policy")
    out = tmp_path / "auto.jsonl"
    assert _eval_in_process(capsys, "--workers", "auto", *policy, "--out", str(out), str(packed)) == (0, 2)
    assert out.read_bytes() == run_cli("eval", *policy, str(long_log)).stdout


def test_auto_runs_a_program_that_cannot_split_on_one_worker_without_a_note(long_log):
    # the community pack keeps state across members (copies by text, raids): --workers 2 says so; auto does not
    auto = run_cli("eval", "--workers", "auto", "--policy", "policies/community", str(long_log))
    assert auto.returncode == 0 and _summary_workers(auto.stderr) == 1 and "note:" not in auto.stderr.decode()
    assert auto.stdout == run_cli("eval", "--policy", "policies/community", str(long_log)).stdout


def test_two_logs_one_gzipped_explained_as_text(mixed_log, tmp_path):
    import gzip
    second = tmp_path / "second.jsonl.gz"
    with gzip.open(second, "wb") as f:
        f.write(_log_bytes(4_000, seed=9))
    args = ("--explain", "--format", "text")
    one = run_cli("eval", "--quiet", "--workers", "1", "--policy", "policies/examples", *args, str(mixed_log), str(second))
    two = run_cli("eval", "--quiet", "--workers", "2", "--policy", "policies/examples", *args, str(mixed_log), str(second))
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout and one.stderr == two.stderr
    # Both logs were read: the second log's bad lines are reported under its own name.
    assert f"{second}:".encode() in one.stderr and f"{mixed_log}:".encode() in one.stderr


# A silence timer for every member that fires without deciding (no one reaches 10 000 messages):
# a share's loop then steps through process_record and carries on.
SILENT_TIMERS = ('rule quiet { on absence(message by user for 1m) when count(message by user) > 10000 '
                 'do notify(user, "x") }\n')


@pytest.mark.parametrize("share", [0, 1])
@pytest.mark.parametrize("extra", ["", SILENT_TIMERS])
def test_each_share_counts_every_event_as_one_worker_does(mixed_log, share, extra):
    """A share's clock is one worker's clock: its event count (which orders timers and ties) must
    be the number of events read, whichever member they belong to and whatever timer fired."""
    import io

    from policyengine.compiler import compile_program
    from policyengine.events.decode import EventDecoder
    from policyengine.logs import OpenLog
    from policyengine.parallel import ShareEvaluator
    from policyengine.replay import ReplayStats, replay
    from policyengine.runtime.evaluator import Evaluator
    from tests.conftest import ROOT

    named = [(str(p), p.read_text()) for p in sorted((ROOT / "policies/examples").glob("*.policy"))]
    compiled = compile_program(load_text(named + ([("quiet.policy", extra)] if extra else [])).program)
    data = mixed_log.read_bytes()
    counts = []
    for evaluator in (Evaluator(compiled), ShareEvaluator(compiled, share, 2)):
        stats = ReplayStats()
        replay(OpenLog("mixed.jsonl", io.BytesIO(data), len(data), None), evaluator,
               EventDecoder(compiled.plan.field_types), lambda d: None, lambda m: None, stats)
        counts.append((stats.events, evaluator.store.events_seen, evaluator.late_events))
    assert counts[0] == counts[1]
    assert counts[0][0] == counts[0][1] > 29_000


POINTS = """policy perks "points"
points points {
  cap 20 per day
  tz "Asia/Shanghai"
}
rule talk {
  on message where len(text) >= 5
  do award_points(1)
  cooldown 1m per user
}
rule welcome_back {
  on absence(message by user for 1d)
  do award_points(3)
}
"""


def test_two_workers_write_awards_as_one_worker_does(mixed_log, tmp_path):
    # The C giver's decisions are records (output/_decisions.c), tagged for the merge by identity:
    # awards made by a rule and by a timer (the absence), in the shared loop and at --until.
    policy = tmp_path / "points.policy"
    policy.write_text(POINTS)
    runs = [run_cli("eval", "--workers", str(n), "--policy", str(policy), "--until", UNTIL, str(mixed_log))
            for n in (1, 2)]
    assert all(r.returncode == 0 for r in runs)
    assert b"running on one worker" not in runs[1].stderr
    assert runs[1].stdout == runs[0].stdout
    decisions = [orjson.loads(x) for x in runs[0].stdout.splitlines()]
    rules = {d["rule"] for d in decisions if d["action"] == "award_points"}
    assert rules == {"talk", "welcome_back"}


def test_a_balanced_partition_spreads_the_heads_events_busiest_bucket_first(tmp_path):
    import zlib

    from policyengine.parallel import BUCKETS, balanced_partition
    # Members in four distinct buckets with 5, 3, 2 and 2 events among the first lines; two
    # workers. By hand, busiest first, each to the least-loaded worker (the lower on a tie):
    # 5 → worker 0 (loads 0/0, a tie), 3 → 1 (5/0), the first 2 by bucket number → 1 (5/3), the
    # other 2 → 0 (5/5, a tie): loads 7/5.
    counts = {"alice": 5, "bob": 3, "carol": 2, "dave": 2}
    buckets = {name: zlib.crc32(name.encode()) % BUCKETS for name in counts}
    assert len(set(buckets.values())) == 4
    ordered = sorted(counts, key=lambda n: (-counts[n], buckets[n]))
    expected_share = {ordered[0]: 0, ordered[1]: 1, ordered[2]: 1, ordered[3]: 0}
    lines = [orjson.dumps({"type": "message", "ts": "2026-11-02T00:00:00Z", "user": name, "id": f"e{i}"})
             for i, name in enumerate(n for n in counts for _ in range(counts[n]))]
    lines[3:3] = [b"not json", b"[1, 2]", b'{"type":"message","user":7}']   # counted by nobody
    log = tmp_path / "head.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    partition = balanced_partition([str(log)], 2, 1 << 20)
    assert len(partition) == BUCKETS
    assert {name: partition[buckets[name]] for name in counts} == expected_share
    # buckets the head did not meet go by their number
    unseen = [b for b in range(BUCKETS) if b not in buckets.values()]
    assert all(partition[b] == b % 2 for b in unseen)
    # only the head is read: the first 8 lines hold alice's 5 events and the 3 bad lines; bob's
    # first is line 9, so his bucket (320, even) goes by its number, where counting it would have
    # given it to worker 1
    head = balanced_partition([str(log)], 2, 1 << 20, sample=8)
    assert buckets["bob"] % 2 == 0
    assert (head[buckets["alice"]], head[buckets["bob"]]) == (0, 0)


def test_a_large_logs_partition_is_balanced_on_windows_spread_over_it(tmp_path):
    import gzip
    import random
    import zlib

    from policyengine.events.records import record_fields
    from policyengine.events.routing import route_fields
    from policyengine.parallel import BUCKETS, STRETCHES, WINDOW, balanced_partition
    # Four members, each the only one in a quarter of a log larger than all the windows, all four
    # in even buckets: over the whole log each carries a quarter of the events, so the balanced
    # split gives each of two workers two of them.
    names = [name for name in (f"m{i}" for i in range(200)) if zlib.crc32(name.encode()) % BUCKETS % 2 == 0][:4]
    # ~130-byte lines whose ids do not compress, so that even the gzipped log is past all the windows
    per_quarter = STRETCHES * WINDOW // 4 // 20
    rng = random.Random(2)
    lines = [orjson.dumps({"type": "message", "ts": "2026-11-02T00:00:00Z", "user": name,
                           "id": rng.randbytes(24).hex()}) for name in names for i in range(per_quarter)]
    log = tmp_path / "drifting.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    assert log.stat().st_size > STRETCHES * WINDOW
    buckets = [zlib.crc32(name.encode()) % BUCKETS for name in names]
    for fields in ((), route_fields(record_fields({}))):      # read by orjson, and by the scan
        partition = balanced_partition([str(log)], 2, 1 << 20, fields)
        assert sorted(partition[b] for b in buckets) == [0, 0, 1, 1], fields
    # Compressed, only the head can be read: its first lines are all the first member's and 1 000
    # of the second's, who go to workers 0 and 1; the two unseen go by their (even) buckets'
    # number, to worker 0.
    packed = tmp_path / "drifting.jsonl.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert packed.stat().st_size > STRETCHES * WINDOW
    head = balanced_partition([str(packed)], 2, 1 << 20, sample=per_quarter + 1000)
    assert [head[b] for b in buckets] == [0, 1, 0, 0]


def test_the_scan_counts_a_sample_as_orjson_does_on_lines_it_is_sure_of():
    import zlib

    from policyengine.events.records import record_fields
    from policyengine.events.routing import bucket_counts, route_fields
    from policyengine.parallel.balance import BUCKETS, _counted
    fields = route_fields(record_fields({"text": "text"}))
    lines = [orjson.dumps(event) for event in generate(2000, seed=9)]
    assert bucket_counts(lines, fields, BUCKETS) == _counted(lines)
    # by hand: two of u1's, one of u2's; a bad line and a line without a time counted by neither
    # the scan nor (the first) orjson
    few = [b'{"type":"message","ts":"2026-11-02T00:00:00Z","user":"u1","id":"a","text":"x"}',
           b'{"type":"message","ts":"2026-11-02T00:00:01Z","user":"u2","id":"b","text":"y"}',
           b'{"type":"message","ts":"2026-11-02T00:00:02Z","user":"u1","id":"c","text":"z"}',
           b"{broken", b'{"type":"message","user":"u2","id":"d"}']
    counts = bucket_counts(few, fields, 8)
    expected = [0] * 8
    expected[zlib.crc32(b"u1") % 8] += 2
    expected[zlib.crc32(b"u2") % 8] += 1
    assert counts == expected


def test_no_partition_where_the_log_cannot_be_read_twice_or_one_worker_runs(tmp_path):
    from policyengine.parallel import balanced_partition
    log = tmp_path / "one.jsonl"
    log.write_bytes(b'{"type":"message","ts":"2026-11-02T00:00:00Z","user":"u","id":"e"}\n')
    assert balanced_partition(["-"], 2, 1 << 20) == b""            # standard input: read once only
    assert balanced_partition([str(log)], 1, 1 << 20) == b""
    assert balanced_partition([str(log)], 256, 1 << 20) == b""      # more shares than a byte names
    assert balanced_partition([str(tmp_path / "missing.jsonl")], 2, 1 << 20) == b""
    import os
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert balanced_partition([str(fifo)], 2, 1 << 20) == b""      # opened, it would block and be consumed
    assert len(balanced_partition([str(log)], 2, 1 << 20)) == 1024


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[st.one_of(st.integers(-2, 2), st.integers(-(1 << 62), 1 << 62))] * 4),
                min_size=2, max_size=8))
def test_merge_keys_sort_as_their_tags_do(tags):
    # The parent merges the workers' spooled lines by these 64 hex digits as bytes; the oracle is
    # Python's ordering of the tags themselves (small numbers, so that tags tie on their heads).
    from policyengine.output.decisions import MERGE_KEY_BYTES, merge_key
    keys = [merge_key(tag) for tag in tags]
    assert all(len(key) == MERGE_KEY_BYTES and b"\n" not in key for key in keys)     # what the parent cuts off
    assert sorted(range(len(tags)), key=lambda i: keys[i]) == sorted(range(len(tags)), key=lambda i: tags[i])


# Workers' spools: each sorted by its 64-digit key; keys from a few values, so that files tie with
# each other and with themselves. The oracle is heapq.merge: by key, ties in file order.
SPOOLS = st.lists(st.lists(st.tuples(st.integers(0, 6), st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))),
                           max_size=40), min_size=1, max_size=4)


def _spool_lines(spools) -> list[list[bytes]]:
    from policyengine.output.decisions import merge_key
    return [[merge_key((key, 0, 0, 0)) + payload + b"\n" for key, payload in sorted(spool, key=lambda x: x[0])]
            for spool in spools]


@settings(max_examples=300, deadline=None)
@given(SPOOLS, st.integers(1, 300))
def test_the_spools_merge_as_heapq_merges_them(spools, block):
    import heapq
    import io
    from policyengine.parallel.merge import _KEY, merged
    files = _spool_lines(spools)
    expected = list(heapq.merge(*files, key=_KEY))
    lists = list(merged([io.BytesIO(b"".join(lines)) for lines in files], block))
    assert all(lists) and [line for lines in lists for line in lines] == expected


@settings(max_examples=300, deadline=None)
@given(SPOOLS, st.integers(1, 300))
def test_the_spools_merge_in_c_as_heapq_merges_them(spools, limit):
    # The same oracle for output/_decisions.c: merge_spooled, called again from where it stopped
    # until it gives nothing, as parallel/merge.py: _merged_json calls it; each call stops once it holds
    # `limit` bytes (after a whole line), so small limits cut the merge everywhere.
    import heapq
    from policyengine.output.decisions import merge_spooled
    from policyengine.parallel.merge import _KEY
    files = _spool_lines(spools)
    expected = b"".join(line[64:] for line in heapq.merge(*files, key=_KEY))
    views, at, got = [b"".join(lines) for lines in files], [0] * len(files), []
    while True:
        chunk, at = merge_spooled(views, at, limit)
        if not chunk:
            break
        assert len(chunk) < limit + 100                   # one line past the limit at most
        got.append(chunk)
    assert b"".join(got) == expected and at == [len(v) for v in views]


def test_the_c_merge_takes_lines_longer_than_its_block():
    from policyengine.output.decisions import merge_key, merge_spooled
    # the first line (15 kB) outgrows the buffer a 10-byte block starts with (4 kB past the block)
    lines = [merge_key((i, 0, 0, 0)) + bytes([65 + i]) * (3000 * (6 - i)) + b"\n" for i in range(1, 6)]
    spools = [b"".join(lines[::2]), b"".join(lines[1::2])]
    chunk, at = merge_spooled(spools, [0, 0], 10)
    assert chunk == lines[0][64:] and at == [len(lines[0]), 0]    # one line, past the block: whole
    chunk, at = merge_spooled(spools, at, 13000)
    assert chunk == lines[1][64:] + lines[2][64:]                 # 12 kB then 9 kB: the buffer grows again
    chunk, at = merge_spooled(spools, at, 1 << 20)
    assert chunk == lines[3][64:] + lines[4][64:] and at == [len(spools[0]), len(spools[1])]


def test_what_the_c_merge_refuses():
    from policyengine.output.decisions import merge_spooled
    with pytest.raises(ValueError):
        merge_spooled([b"x" * 10 + b"\n"], [0], 100)          # a line shorter than a key: not a spool
    with pytest.raises(ValueError):
        merge_spooled([b""], [0], 0)                           # a limit of nothing would never end
    with pytest.raises(ValueError):
        merge_spooled([b"ab"], [3], 10)                        # an offset past the spool
    with pytest.raises(TypeError):
        merge_spooled([b""], [0, 0], 10)                       # an offset for each spool


def test_the_ceilings_share_logs_split_the_log_by_member_as_two_workers_do(tmp_path):
    # benchmarks.workers --ceiling times one worker on each share's lines alone: each sure line
    # goes to the share its member's bucket names in eval's partition (CRC-32 of `user`, zlib's),
    # a line the scan is unsure of to both.
    import zlib
    from benchmarks.throughput import REFERENCE
    from benchmarks.workers import share_logs
    from policyengine.compiler.cache import load_compiled
    from policyengine.events.routing import route_fields
    from policyengine.parallel import BUCKETS, balanced_partition
    from policyengine.replay import MAX_LINE_BYTES
    log = tmp_path / "log.jsonl"
    bad = b'{"type":"message","user":"u1","text":"no time"}'
    lines = [orjson.dumps(event) for event in generate(3000, seed=3)] + [bad]
    log.write_bytes(b"\n".join(lines) + b"\n")
    parts = [path.read_bytes().splitlines() for path in share_logs(log, REFERENCE, tmp_path)]
    assert len(parts[0]) + len(parts[1]) == len(lines) + 1
    parts = [set(part) for part in parts]
    partition = balanced_partition([str(log)], 2, MAX_LINE_BYTES, route_fields(load_compiled(REFERENCE)[1].record))
    assert len(partition) == BUCKETS
    for line in lines[:-1]:
        share = partition[zlib.crc32(orjson.loads(line)["user"].encode()) % BUCKETS]
        assert line in parts[share] and line not in parts[1 - share]
    assert bad in parts[0] and bad in parts[1]


def test_workers_that_ask_for_their_members_rows_ahead_decide_as_one_worker(mixed_log, tmp_path, monkeypatch, capsys):
    # From the first member on (the threshold 0), each worker's routed lines go with its member
    # index (events/_route.c: routed_warm) and one worker's through _columns.ahead: the same bytes.
    from policyengine.runtime import store
    monkeypatch.setattr(store, "AHEAD_MEMBERS", 0)
    args = ("--policy", "policies/examples", "--until", UNTIL)
    outputs = []
    for workers in ("1", "2", "3"):
        out = tmp_path / f"w{workers}.jsonl"
        capsys.readouterr()
        assert main(["eval", "--quiet", "--progress", "never", "--workers", workers, *args, "--out", str(out),
                     str(mixed_log)]) == 0
        outputs.append((out.read_bytes(), capsys.readouterr().err))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][0] == _eval(mixed_log, 1).stdout and outputs[0][0].count(b"\n") > 100


def test_a_count_a_role_keeps_across_members_blocks_even_when_a_board_ranks_it_too():
    # `count(message)` with no key, read by a role, is one count for everybody: it keeps the
    # program on one worker although a board ranks `count(message)` per member as well.
    source = ('policy p\nrole "r" {\n  requires count(message) >= 10\n}\n'
              'every week {\n  top 3 by count(message) => award_badge("b")\n}\n')
    loaded = load_text([("p.policy", source)])
    assert loaded.program is not None, [d.message for d in loaded.diagnostics]
    assert [b.what for b in blockers(loaded.program)] == ["`count(message)` is kept across members (not `by user`)"]


@pytest.mark.parametrize("workers", ["0", "-1", "257", "99999", "two"])
def test_a_worker_count_of_none_or_past_what_the_merge_takes_is_a_usage_error(mixed_log, workers):
    # The parent merges at most 256 spools in one C call: 300 workers were an internal error, and
    # 99 999 ran out of file descriptors.
    r = run_cli("eval", "--workers", workers, "--policy", "policies/examples", str(mixed_log))
    assert r.returncode == 3 and b"give 1 to 256, or auto" in r.stderr and b"Traceback" not in r.stderr


def _eval_limited(log, workers: int, soft: int, hard: int):
    import resource
    env = dict(os.environ, NO_COLOR="1")
    env.pop("POLICYENGINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "policyengine", "eval", "--quiet", "--workers", str(workers),
                           "--policy", "policies/examples/ads.policy", str(log)], capture_output=True, env=env,
                          cwd=Path(__file__).resolve().parents[1], timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))


def test_workers_raise_the_open_files_limit_they_need_or_say_it_is_too_low(mixed_log):
    # 12 workers need ~4 files each and 64 beside: 112. Under a soft limit of 80 with room above it,
    # the limit is raised and the run is one worker's; with the hard limit 80 as well, a usage
    # error says so (100 workers under `ulimit -n 256` ran out of file descriptors midway: an
    # internal error).
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or hard >= 112, "no room above 80 open files to test raising the limit"
    one = _eval_limited(mixed_log, 1, 80, hard)
    raised = _eval_limited(mixed_log, 12, 80, hard)
    assert raised.returncode == 0 and raised.stdout == one.stdout and one.stdout
    short = _eval_limited(mixed_log, 12, 80, 80)
    assert short.returncode == 3 and b"error[E0001]: --workers 12: " in short.stderr
    assert b"ulimit -n" in short.stderr and b"Traceback" not in short.stderr and short.stdout == b""


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _reading(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_end_when_their_parent_is_killed(long_log, tmp_path):
    # One worker stopped, so the other waits for its scans; then the parent killed (kill -9, a
    # caller's timeout). The workers waited for ever: forty of them spun for an hour.
    import signal
    import time
    log = tmp_path / "longer.jsonl"
    log.write_bytes(long_log.read_bytes() * 8)
    parent = subprocess.Popen([sys.executable, "-m", "policyengine", "eval", "--quiet", "--workers", "2",
                               "--policy", "policies/examples/ads.policy", str(log)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 20
        # both workers reading the log, so past the start where each asks to die with its parent:
        # one stopped before it asked (a worker just forked) was never killed, 1 run in 6
        while len(workers := _children(parent.pid)) < 2 or not all(_reading(w, log) for w in workers):
            assert parent.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.002)
        os.kill(workers[0], signal.SIGSTOP)
        assert parent.poll() is None                      # still running: the stopped worker holds it up
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert left == []

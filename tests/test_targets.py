"""benchmarks/targets.py's judgement and benchmarks/scale.py's memory figure (no times asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from benchmarks import scale, targets
from benchmarks.targets import judge, paired, ratio_row, same_decisions_row
from benchmarks.throughput import REFERENCE, ROOT, decided, write_log


def test_a_floor_is_met_at_the_floor_and_a_ceiling_only_below_it():
    assert judge(1.0, 1.0, at_least=True) == "met"
    assert judge(0.99, 1.0, at_least=True) == "NOT MET"
    assert judge(1.99, 2.0, at_least=False) == "met"
    assert judge(2.0, 2.0, at_least=False) == "NOT MET"        # "< 2×": 2× itself is not under it


def test_ratios_are_the_median_of_each_rounds_own():
    # rounds' ratios 2, 4, 3 → 3; the ratio of the medians would be 4 / 1 = 4
    assert paired([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0


def test_a_ratio_target_is_judged_by_medians_and_says_where_the_rounds_disagree():
    # medians 4 / 1 = 4 (met at 3.5); the rounds' ratios 2, 4, 3 → 3 (not)
    target, threshold, measured, status = ratio_row("t", 3.5, [2.0, 4.0, 9.0], [1.0, 1.0, 3.0], "")
    assert threshold == "≥ 3.5×" and measured.startswith("4.000× by medians, 3.000× the rounds' ratios")
    assert status == "met (by medians; not by the rounds' ratios)"
    assert ratio_row("t", 5.0, [2.0, 4.0, 9.0], [1.0, 1.0, 3.0], "")[3] == "NOT MET"
    assert ratio_row("t", 3.0, [2.0, 4.0, 9.0], [1.0, 1.0, 3.0], "")[3] == "met"


def test_decisions_are_read_as_the_hand_written_evaluator_gives_them():
    output = orjson.dumps({"action": "delete", "user": "u1", "event_id": "e7", "policy": "ads"}) + b"\n" \
        + orjson.dumps({"action": "promote", "user": "u2"}) + b"\n"
    assert decided(output) == [("delete", "u1", "e7"), ("promote", "u2", None)]


def test_the_peak_memory_is_the_eval_process_own():
    # A child that held 300 MB ran first: the most of every child this process waited for would
    # say 300 MB; the eval's own peak over 2 000 small events is a few tens.
    subprocess.run([sys.executable, "-c", "b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096])"], check=True)
    _, peak_mb, code = scale.measure(scale.lines(2_000, 500, 7))
    assert code == 0 and 10 < peak_mb < 200


def test_the_peak_memory_is_not_the_measuring_process():
    # A child's ru_maxrss counts the process it was forked from, up to its exec: a measuring
    # process that has grown to 300 MB (as a test run does) must still read the eval's own tens.
    script = ("import sys; sys.path.insert(0, sys.argv[1]); b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); "
              "from benchmarks import scale; took, peak, code = scale.measure(scale.lines(2_000, 500, 7)); print(peak, code)")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    peak, code = done.stdout.split()
    assert int(code) == 0 and 10 < float(peak) < 200


def _fake_runs(monkeypatch, outputs: dict):
    """eval runs that take 1 s and print `outputs[workers]` (over the split log: outputs["split"], else
    two workers'; with --state: outputs["state"], else one worker's); the hand-written evaluator
    decides one delete of u1's e1."""
    monkeypatch.setattr(targets, "eval_run", lambda log, policies, workers: (
        1.0, outputs.get("split", outputs[workers]) if log == SPLIT else outputs[workers]))
    monkeypatch.setattr(targets, "with_state", lambda log, policies: (1.1, outputs.get("state", outputs[1])))
    monkeypatch.setattr(targets, "hand_written", lambda log: (2.0, [("delete", "u1", "e1")]))


SPLIT = Path("split")
DELETE = orjson.dumps({"action": "delete", "user": "u1", "event_id": "e1"}) + b"\n"
WARN = orjson.dumps({"action": "warn", "user": "u1", "event_id": "e1"}) + b"\n"


def test_two_workers_that_decide_differently_are_caught(monkeypatch):
    _fake_runs(monkeypatch, {1: DELETE, 2: DELETE})
    assert targets.one_and_two(Path("log"), [], 2) == ([1.0, 1.0], [1.0, 1.0], [], True)
    assert targets.one_and_two(Path("log"), [], 2, SPLIT) == ([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], True)
    times, wrong = targets.rounds(Path("log"), 2, SPLIT)
    assert wrong == [] and times["hand"] == [2.0, 2.0] and times["split"] == [1.0, 1.0]
    assert same_decisions_row(wrong)[2:] == ("same, every run", "met")

    _fake_runs(monkeypatch, {1: DELETE, 2: WARN})
    assert targets.one_and_two(Path("log"), [], 2)[3] is False
    _, wrong = targets.rounds(Path("log"), 1, SPLIT)
    assert wrong == [f"{targets.WORKERS_DIFFER} (reference policies)",
                     f"{targets.WORKERS_DIFFER} (reference policies, the split log)"]
    assert same_decisions_row(wrong)[2:] == ("differed", "NOT MET")

    # two workers over the split log alone deciding differently
    _fake_runs(monkeypatch, {1: DELETE, 2: DELETE, "split": WARN})
    assert targets.one_and_two(Path("log"), [], 2, SPLIT)[3] is False
    _, wrong = targets.rounds(Path("log"), 1, SPLIT)
    assert wrong == [f"{targets.WORKERS_DIFFER} (reference policies, the split log)"]
    assert same_decisions_row(wrong)[2:] == ("differed", "NOT MET")


def test_the_reference_policies_deciding_unlike_the_hand_written_evaluator_are_caught(monkeypatch):
    _fake_runs(monkeypatch, {1: WARN, 2: WARN})
    _, wrong = targets.rounds(Path("log"), 1, SPLIT)
    assert wrong == ["the reference policies decided differently from the hand-written evaluator"]
    assert same_decisions_row(wrong)[3] == "met"          # the workers agreed with one worker


def test_a_timed_eval_gives_the_decisions_eval_prints(tmp_path):
    # benchmarks.workers.run writes them to a file, as users do, and reads them back after timing
    from benchmarks import workers
    from tests.conftest import run_cli
    log = tmp_path / "log.jsonl"
    write_log(log, 20_000, 7)              # the generated log's ads come in bursts: 137 decisions
    took, output = workers.run(log, REFERENCE, 2)
    printed = run_cli("eval", "--quiet", *(f for p in REFERENCE for f in ("--policy", p)), str(log)).stdout
    assert output == printed and output.count(b"\n") > 100


def test_eval_with_state_deciding_unlike_eval_is_caught(monkeypatch):
    _fake_runs(monkeypatch, {1: DELETE, 2: DELETE, "state": WARN})
    times, wrong = targets.rounds(Path("log"), 2, SPLIT)
    assert times["state"] == [1.1, 1.1]
    assert wrong == ["`eval --state` decided differently from `eval` (reference policies)"] * 2


def test_each_timed_eval_with_state_starts_a_state_file_of_its_own(tmp_path):
    # A state file that had seen the log would skip its lines: the second run would decide nothing.
    from tests.conftest import run_cli
    log = tmp_path / "log.jsonl"
    write_log(log, 20_000, 7)
    printed = run_cli("eval", "--quiet", *(f for p in REFERENCE for f in ("--policy", p)), str(log)).stdout
    first, second = targets.with_state(log, REFERENCE)[1], targets.with_state(log, REFERENCE)[1]
    assert first == second == printed and printed.count(b"\n") > 100


def test_the_ceiling_of_two_workers_is_one_worker_against_the_slower_share_alone(monkeypatch, tmp_path):
    # two workers can at best take as long as the larger part alone: 4.5 s against 2.5 s is 1.80×
    parts = [tmp_path / "share0.jsonl", tmp_path / "share1.jsonl"]
    alone = {parts[0]: 2.0, parts[1]: 2.5}
    monkeypatch.setattr(targets, "share_logs", lambda log, policies, folder: parts)
    monkeypatch.setattr(targets, "eval_run", lambda log, policies, workers: (alone[log], b""))
    # and with the scan of every line once, 0.4 s shared by the two: 4.5 / (2.5 + 0.2) = 1.67×
    monkeypatch.setattr(targets, "scan_seconds", lambda log, policies: 0.4)
    said, bound = targets.ceiling(tmp_path / "log.jsonl", [], 4.5)
    assert said == ("; each share's lines alone 2.00 s and 2.50 s: at most 1.80×; with the scan of every line "
                    "once (0.40 s), which the two share, at most 1.67×")
    assert abs(bound - 4.5 / 2.7) < 1e-12


def test_a_near_linear_row_under_its_bound_is_said_out_of_reach():
    # 1.4× measured against 1.8× asked: out of reach where no route could give 1.8× (bound 1.71×),
    # merely not met where one could (1.87×); a row that was met stays met whatever the bound.
    row = ratio_row("two workers", 1.8, [1.4], [1.0], "1.0 s")
    assert row[3] == "NOT MET"
    said = targets.within_reach(row, 1.71, 1.8)
    assert said[:3] == row[:3] and said[3] == "NOT MET, and out of reach: no route over this log gives more than 1.71×"
    assert targets.within_reach(row, 1.87, 1.8) == row
    met = ratio_row("two workers", 1.8, [1.9], [1.0], "1.0 s")
    assert met[3] == "met" and targets.within_reach(met, 1.5, 1.8) == met


def test_the_scan_bound_times_the_route_scan_over_every_line_once(monkeypatch, tmp_path):
    # every line of the log goes through the scan once, in eval's chunks; only the scan is timed
    from benchmarks import workers
    log = tmp_path / "log.jsonl"
    write_log(log, 3_000, 7)
    scanned, layouts = [], set()

    def scan(lines, fields, buckets):
        scanned.extend(lines)
        layouts.add(fields)
        return [0] * buckets
    monkeypatch.setattr("policyengine.events.routing.bucket_counts", scan)
    took = workers.scan_seconds(log, REFERENCE)
    assert scanned == log.read_bytes().split(b"\n")[:-1] and len(scanned) == 3_000
    # the program's own layout, the member's field in it (the scan's K_USER is 1)
    (fields,) = layouts
    assert (b"user", 1) in fields and isinstance(took, float)


def test_the_split_logs_row_is_bounded_by_its_larger_part_alone(tmp_path, monkeypatch):
    for k in (0, 1):
        (tmp_path / f"part-00{k}.jsonl").write_bytes(b"")
    alone = {"part-000.jsonl": 0.5, "part-001.jsonl": 0.6}
    monkeypatch.setattr(targets, "eval_run", lambda log, policies, workers: (alone[log.name], b""))
    row = targets.split_row("1 event", [1.0, 1.0], [0.7, 0.7], 0.1, tmp_path)
    # 1.0 / 0.7 = 1.43x, under 1.8x; the larger part alone, 0.6 s, allows at most 1.0 / 0.6 = 1.67x
    assert "0.50 s and 0.60 s: at most 1.67×" in row[2]
    assert row[3] == "NOT MET, and out of reach: no route over this log gives more than 1.67×"
    alone["part-001.jsonl"] = 0.5                       # at most 2.0x: not met, but not out of reach
    assert targets.split_row("1 event", [1.0], [0.7], 0.1, tmp_path)[3] == "NOT MET"
    assert targets.split_row("1 event", [1.0], [0.5], 0.1, tmp_path)[3] == "met"

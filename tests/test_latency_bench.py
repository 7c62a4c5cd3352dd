"""benchmarks.latency: its percentiles, and that a run counts and attributes what it measured.
Times are never asserted; what is, is computed here independently."""
from __future__ import annotations

import gc
import json
import random

import pytest

from benchmarks import latency
from policyengine.runtime.store import SWEEP_MIN
from tests.conftest import ROOT

POLICY = """
policy spam

rule flood {
  on message
  when count(message by user within 1m) > 3
  do warn("slow down")
}
"""


def nearest_rank(values: list[int], p: float) -> int:
    """The smallest value with at least p % of all values at or below it, by counting."""
    n = len(values)
    for v in sorted(set(values)):
        if sum(1 for x in values if x <= v) * 100 >= p * n:
            return v
    raise AssertionError("unreachable")


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 999, 1000, 1001, 10_000])
def test_percentiles_match_counting(n):
    rng = random.Random(n)
    values = [rng.randrange(50) for _ in range(n)]
    ordered = sorted(values)
    for p in (*latency.PERCENTILES, 0.01, 25, 75, 100):
        assert latency.percentile(ordered, p) == nearest_rank(values, p), (n, p)


def test_percentiles_of_one_to_a_thousand():
    ordered = list(range(1, 1001))
    assert [latency.percentile(ordered, p) for p in (50, 90, 99, 99.9, 99.99, 100)] == [500, 900, 990, 999, 1000, 1000]
    with pytest.raises(ValueError):
        latency.percentile([], 50)


def test_a_run_counts_every_event_and_names_the_sweeps(tmp_path):
    policy = tmp_path / "spam.policy"
    policy.write_text(POLICY)
    log = tmp_path / "log.jsonl"
    lines = [json.dumps({"type": "message", "ts": f"2026-11-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                         "user": f"u{i % 7}", "text": "hi"}) for i in range(6000)]
    lines[5] = "not json"                                    # skipped: not an event a bot is handed
    lines[10] = '{"type": "message", "user": "u1"}'          # no ts: BadEvent, timed like the rest
    log.write_text("\n".join(lines) + "\n")
    gc_settings = gc.get_threshold(), gc.get_freeze_count()
    result = latency.measure([str(policy)], str(log), 5000, "default", slowest=3)
    assert (gc.get_threshold(), gc.get_freeze_count()) == gc_settings       # `default` changes nothing
    assert result["events"] == 4999
    values = [result["percentiles_ns"][str(p)] for p in latency.PERCENTILES]
    assert values == sorted(values) and values[-1] <= result["max_ns"]
    assert [s["ns"] for s in result["slowest"]] == sorted((s["ns"] for s in result["slowest"]), reverse=True)
    assert result["slowest"][0]["ns"] == result["max_ns"]
    # the store first sweeps at its 4 096th event (SWEEP_MIN) and next at least 4 096 events
    # later: one sweep in 4 998 valid events. Named by the event timed: with line 5 skipped and
    # line 10 timed but no event of the store's, the 4 096th valid event is the 4 097th timed
    # (index 4 096); by line it would be 4 097
    assert SWEEP_MIN == 4096 and result["sweeps"] == 1 and result["sweep_events"] == [4096]
    assert all(0 <= s["event"] < 4999 for s in result["slowest"])


def test_the_report_has_a_row_a_way_and_the_slowest_events():
    result = {"way": "frozen", "events": 3, "mean_ns": 2000, "max_ns": 9000, "full_collections": 1,
              "longest_collection_ns": 8500, "sweeps": 0,
              "percentiles_ns": {str(p): 1000 * (i + 1) for i, p in enumerate(latency.PERCENTILES)},
              "slowest": [{"event": 2, "ns": 9000, "sweep": True, "collection_ns": 8500}]}
    text = latency.report([result])
    row = next(line for line in text.splitlines() if line.startswith("| frozen"))
    assert row.split(" | ")[1:9] == ["3", "2.0", "1.0", "2.0", "3.0", "4.0", "5.0", "9.0"]
    assert "1 (8.5)" in row
    assert "a full collection of 8.5 µs, a sweep of expired state" in text


def test_the_command_runs_each_way_in_a_process_of_its_own_on_a_generated_log(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(latency.tempfile, "tempdir", str(tmp_path))
    assert latency.main(["--policy", "policies/examples/ads.policy", "--events", "3000", "--slowest", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| default") or line.startswith("| frozen")]
    assert [row.split(" | ")[0] for row in rows] == ["| default", "| frozen"]
    assert all(row.split(" | ")[1] == "3,000" for row in rows)
    assert list(tmp_path.iterdir()) == []                   # the generated log is gone

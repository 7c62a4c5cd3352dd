"""benchmarks/neighbour.py: the memory-hungry neighbour runs on a core of its own and leaves with
the block (no time is asserted: what it does to a run is measured, never tested)."""
from __future__ import annotations

import os
import time

import pytest

from benchmarks import neighbour as nb


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, Z…), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_the_neighbour_runs_on_the_last_core_and_is_gone_after_the_block(monkeypatch):
    if len(os.sched_getaffinity(0)) < 2:
        with pytest.raises(nb.NoNeighbour, match="two cores are needed"):
            with nb.neighbour(mib=8):
                pass
        return
    started = []
    real_popen = nb.subprocess.Popen
    monkeypatch.setattr(nb.subprocess, "Popen", lambda *a, **k: started.append(real_popen(*a, **k)) or started[-1])
    allowed = sorted(os.sched_getaffinity(0))
    with nb.neighbour(mib=8) as there:
        # the compiler's and the probes' runs are Popens too (the compiler's where the neighbour was
        # not built yet, as on a fresh clone)
        (process,) = [p for p in started if p.args[0] == str(nb.built())]
        assert there.core == allowed[0]
        assert there.alone_ns > 0 and there.beside_ns > 0     # the probe ran on the measured core, twice
        assert os.sched_getaffinity(process.pid) == {allowed[-1]}
        assert _state(process.pid) == "R"                # busy, not waiting
        ran = process.pid
    for _ in range(100):                                 # killed and reaped: no process, no zombie
        if _state(ran) is None:
            break
        time.sleep(0.01)
    assert _state(ran) is None


def test_the_neighbour_took_hold_where_the_probe_s_loads_went_twice_as_slow():
    assert nb.Beside(0, 20.0, 120.0).took_hold
    assert nb.Beside(0, 20.0, 40.0).took_hold                 # twice: the line
    assert not nb.Beside(0, 20.0, 39.0).took_hold
    assert "did NOT take hold" in str(nb.Beside(0, 20.0, 22.0)) and "(1.1×)" in str(nb.Beside(0, 20.0, 22.0))


def test_the_probe_reads_the_time_a_chain_of_loads_took():
    # what it measured is never judged here; that it ran on the core and said a time is
    assert nb.probe(nb.built(), sorted(os.sched_getaffinity(0))[0]) > 0


def test_a_run_is_pinned_where_asked_and_left_alone_otherwise():
    assert nb.pinned(3, ["eval", "x"]) == ["taskset", "-c", "3", "eval", "x"]
    assert nb.pinned(None, ["eval", "x"]) == ["eval", "x"]


def test_a_neighbour_that_does_not_compile_says_why(tmp_path, monkeypatch):
    broken = tmp_path / "neighbour.c"
    broken.write_text("int main(void) { return undefined_name; }\n")
    monkeypatch.setattr(nb, "SOURCE", broken)
    monkeypatch.setattr(nb, "ROOT", tmp_path)
    with pytest.raises(nb.NoNeighbour, match="(?s)did not compile:.*undefined_name"):
        nb.built()
    assert not list(tmp_path.glob(".benchmarks/neighbour/*/neighbour"))   # nothing half-built is kept

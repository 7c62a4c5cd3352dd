"""The slow hour on demand: a memory-hungry neighbour on one core while a run is measured on another.

    python -m benchmarks.neighbour --rounds 3 -- .venv/bin/policyengine eval --quiet --policy policies/community log.jsonl
    python -m benchmarks.ab --neighbour --base HEAD --policy policies/community --log log.jsonl

This machine's speed moved by up to 40 % hour to hour on the community pack (3.07 s against
2.19 s over the same 1M events, twenty-sixth session) while the hand-written evaluator did not
move (1.39 s against 1.34 s). The twenty-seventh session reproduced it: a program that reads and
writes random words of a 256 MiB buffer (benchmarks/neighbour.c), on the other core, made the
pack 1.47× slower and the hand-written evaluator 1.02× — another tenant of the host filling the
shared last-level cache (32 MiB here; each core has 1 MiB of its own) does the same. What it
measures is how much of a program's state lives past its core's own cache: the pack misses it ~59
times an event (cachegrind with a 1 MiB last level), the hand-written evaluator ~0.75. How much the
neighbour takes depends on where the host puts this machine's two cores (later rounds: 1.17–1.31×,
and once nothing), so before each use a probe (a chain of loads through 16 MiB, on the measured
core) is timed alone and beside it, and what it found is printed: 15–30 ns a load alone, 120–130 ns
beside a neighbour that took hold.

The neighbour is C, built on first use with the compiler Python's extensions are built with and
kept under .benchmarks/ (pure Python reached 10 M accesses a second and slowed the pack 5 %). It
runs on the last core this process may use, the measured run on the first; it ends with its parent.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shlex
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).with_suffix(".c")
MIB = 256                   # the neighbour's buffer: eight times the host's shared cache
TOOK_HOLD = 2.0             # the probe's loads this much slower beside the neighbour: it reached the core's cache


class NoNeighbour(Exception):
    """The neighbour cannot run here: no C compiler, or one core only."""


def built() -> Path:
    """The neighbour's executable, compiled from benchmarks/neighbour.c unless it is already, keyed
    by the source's hash."""
    source = SOURCE.read_bytes()
    target = ROOT / ".benchmarks" / "neighbour" / hashlib.sha256(source).hexdigest()[:16] / "neighbour"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    partial = target.with_suffix(".part")
    try:
        done = subprocess.run([*cc, "-O2", "-o", str(partial), str(SOURCE)], capture_output=True, text=True)
    except OSError as err:
        raise NoNeighbour(f"no C compiler to build the neighbour with ({cc[0]}: {err.strerror})") from None
    if done.returncode != 0:
        raise NoNeighbour(f"the neighbour did not compile:\n{done.stderr}")
    partial.replace(target)                            # whole or not there
    return target


def two_cores() -> tuple[int, int]:
    """The first and the last core this process may use: a measured run's and the neighbour's (or
    ab --together's two). NoNeighbour where it may use one."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise NoNeighbour("two cores are needed: this process may use one only")
    return allowed[0], allowed[-1]


class Beside(NamedTuple):
    """What `neighbour` yields: the core left for the measured run, and the probe's nanoseconds a
    load through 16 MiB on that core before the neighbour started and once it ran."""
    core: int
    alone_ns: float
    beside_ns: float

    @property
    def took_hold(self) -> bool:
        """Whether the neighbour reached the measured core's cache: loads past the core's own cache
        at least twice as slow beside it (5–8× where it did here, ~1× where the host put the cores
        apart)."""
        return self.beside_ns >= TOOK_HOLD * self.alone_ns

    def __str__(self) -> str:
        said = "took hold" if self.took_hold else "did NOT take hold (the host keeps the cores apart): this measures nothing of the slow hour"
        return (f"neighbour: a load through 16 MiB {self.alone_ns:.0f} ns alone, {self.beside_ns:.0f} ns beside it "
                f"({self.beside_ns / self.alone_ns:.1f}×): it {said}")


def probe(program: Path, core: int) -> float:
    """The neighbour program's probe on `core`: nanoseconds a load in a chain through 16 MiB."""
    done = subprocess.run(pinned(core, [str(program), "probe"]), capture_output=True, text=True, check=True)
    return float(done.stdout.split()[0])


@contextlib.contextmanager
def neighbour(mib: int = MIB):
    """The neighbour running on a core of its own while the block runs; yields a Beside: the core
    left for the measured run (pin it there: `taskset -c CORE`, or `pinned`) and whether the
    neighbour reached its cache."""
    program = built()
    mine, theirs = two_cores()
    alone = probe(program, mine)
    process = subprocess.Popen([str(program), str(mib)], preexec_fn=lambda: os.sched_setaffinity(0, {theirs}))
    try:
        time.sleep(0.5)                                # its buffer touched: resident before anything is measured
        if process.poll() is not None:
            raise NoNeighbour(f"the neighbour stopped at once (exit status {process.returncode})")
        yield Beside(mine, alone, probe(program, mine))
    finally:
        process.kill()
        process.wait()


def pinned(core: int | None, argv: list[str]) -> list[str]:
    """argv run on `core` only (taskset, util-linux), or as it is for None."""
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def timed(argv: list[str]) -> tuple[float, float, float]:
    """Run argv (its output dropped): wall clock, user CPU and system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds, each the command alone and then beside the neighbour")
    p.add_argument("--mib", type=int, default=MIB, help=f"the neighbour's buffer (default {MIB} MiB)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to time, after --")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("give the command to time after --")
    try:
        mine, _ = two_cores()
        alone, beside = [], []
        for _ in range(a.rounds):
            alone.append(timed(pinned(mine, command)))
            with neighbour(a.mib) as there:
                print(there, flush=True)
                beside.append(timed(pinned(there.core, command)))
    except NoNeighbour as err:
        print(f"benchmarks.neighbour: {err}", file=sys.stderr)
        return 2
    for name, runs in (("alone", alone), ("neighbour", beside)):
        wall, user, system = (statistics.median(run[i] for run in runs) for i in range(3))
        print(f"{name:<10} median {wall:6.2f} s wall clock, {user:6.2f} s user CPU, {system:5.2f} s system   "
              f"user runs: {' '.join(f'{run[1]:.2f}' for run in runs)}")
    slower = statistics.median(run[1] for run in beside) / statistics.median(run[1] for run in alone)
    print(f"beside the neighbour: {slower:.2f}× the user CPU time alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())

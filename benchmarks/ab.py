"""Is a change faster? Alternating whole `policyengine eval` runs of a base revision and the working tree.

    python -m benchmarks.ab --base HEAD --policy policies/community --log data/sample/community-chat.jsonl.gz
    python -m benchmarks.ab --instructions --base HEAD --policy policies/examples --log small.jsonl
    python -m benchmarks.ab --together --base HEAD --policy policies/community --log log.jsonl
    python -m benchmarks.ab --workers 2 --policy policies/examples/ads.policy --log log.jsonl
    python -m benchmarks.ab --neighbour --base HEAD --policy policies/community --log log.jsonl
    python -m benchmarks.ab --report --base HEAD --policy policies/community --log log.jsonl
    python -m benchmarks.ab --diff EDITED --base HEAD --policy policies/community --log log.jsonl

The development machine's speed moves by up to 2× within minutes, so one run against another
means little. This checks the base revision out into a temporary worktree, byte-compiles both
trees, then runs them in turn (base, change, base, change, …) and compares the medians of the
user CPU time each run took. With `--instructions` it counts instructions instead, under
valgrind's cachegrind (Debian's `valgrind`), once per tree and once more on an empty log to
take start-up away: the same count on every run, about 50× slower, so give it a small log.
With `--together` each round runs both trees at the same time, one on each of two cores (swapped
every round), and compares the median of the rounds' ratios: on the days the machine's speed moves
run to run by ±25 %, a neighbour slows both runs of a round alike more often than it slows two
runs minutes apart. With `--workers N` each run is `eval --workers N` and its wall time is
compared, not its user CPU: the workers' waits for each other are part of what is measured.
With `--neighbour` every run is pinned to one core while a memory-hungry neighbour runs on another
(benchmarks/neighbour.py): the hour in which another tenant fills the shared cache, on demand — a
change to how much state an event touches shows there first. With `--report` every run also
writes `eval --report`'s HTML page. With `--diff NEW` each run is `policyengine diff --policy … --against
NEW` instead, its wall clock compared (the two versions replay side by side, and the parent matches).
Both outputs (and both pages) must be identical, or it says so and fails.
"""
from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.command import eval_command
from benchmarks.neighbour import NoNeighbour, neighbour, pinned, two_cores

ROOT = Path(__file__).resolve().parents[1]


def _command(policies: list[str], log: str, workers: int = 1, extra: tuple[str, ...] = (),
             against: str | None = None) -> list[str]:
    # Absolute paths: each tree runs with its own folder as the working directory.
    if against is not None:
        return [sys.executable, "-m", "policyengine", "diff", "--format", "json",
                *(flag for p in policies for flag in ("--policy", str((ROOT / p).resolve()))),
                "--against", str(Path(against).resolve()), str(Path(log).resolve())]
    return eval_command([(ROOT / p).resolve() for p in policies], "--workers", str(workers), *extra,
                        str(Path(log).resolve()))


def _timed(tree: Path, policies: list[str], log: str, workers: int = 0, core: int | None = None,
           extra: tuple[str, ...] = (), against: str | None = None) -> tuple[float, bytes]:
    """One run of the tree: its user CPU seconds, or with `workers` `eval --workers N`'s wall clock
    (the workers' waits for each other are part of it), or with `against` `diff`'s; and its
    output. `core`: pinned there. `extra`: more arguments for `eval`."""
    argv = pinned(core, _command(policies, log, workers or 1, extra, against))
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, time.perf_counter()
    done = subprocess.run(argv, cwd=tree, capture_output=True, check=True)
    if workers or against is not None:
        return time.perf_counter() - start, done.stdout
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before, done.stdout


def _together(base: Path, policies: list[str], log: str, swap: bool) -> tuple[dict, dict]:
    """One round of --together: both trees at once, each pinned to a core; user CPU of each."""
    took, outputs, running = {}, {}, {}
    cores = two_cores()                              # NoNeighbour where there is one
    with tempfile.TemporaryDirectory() as tmp:
        for core, (name, tree) in zip(cores, (("base", base), ("change", ROOT)) if not swap else
                                            (("change", ROOT), ("base", base))):
            out = open(Path(tmp) / name, "wb")
            running[subprocess.Popen(_command(policies, log), cwd=tree, stdout=out, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda core=core: os.sched_setaffinity(0, {core})).pid] = (name, out)
        while running:
            pid, status, usage = os.wait4(-1, 0)
            if pid in running:
                name, out = running.pop(pid)
                out.close()
                if status != 0:
                    raise SystemExit(f"the {name} run failed")
                took[name] = usage.ru_utime
                outputs[name] = (Path(tmp) / name).read_bytes()
    return took, outputs


def _instructions(tree: Path, policies: list[str], log: str) -> tuple[int, bytes]:
    with tempfile.NamedTemporaryFile() as counts:
        done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={counts.name}",
                               *_command(policies, log)], cwd=tree, capture_output=True, check=True,
                              env=dict(os.environ, PYTHONHASHSEED="0"))    # string hashing moves counts by ±1 %
        summary = [line for line in Path(counts.name).read_text().splitlines() if line.startswith("summary:")]
    return int(summary[0].split()[1]), done.stdout


def _compare_instructions(a, base: Path) -> int:
    empty = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    try:
        events = sum(1 for _ in open(a.log, "rb"))
        per_event = {}
        outputs = {}
        for name, tree in (("base", base), ("change", ROOT)):
            total, outputs[name] = _instructions(tree, a.policy, a.log)
            start, _ = _instructions(tree, a.policy, str(empty))
            per_event[name] = (total - start) / events
            print(f"{name:<7} {per_event[name]:>10,.0f} instructions an event   (start-up {start:,})")
    finally:
        empty.unlink()
    print(f"change runs {per_event['change'] / per_event['base'] - 1:+.1%} instructions an event against {a.base}")
    if outputs["base"] != outputs["change"]:
        print("THE OUTPUTS DIFFER")
        return 1
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="HEAD", help="the revision to compare with (default HEAD)")
    p.add_argument("--policy", action="append", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--instructions", action="store_true", help="count instructions under valgrind instead of timing")
    p.add_argument("--together", action="store_true", help="run base and change at the same time, a core each")
    p.add_argument("--workers", type=int, default=0, help="time `eval --workers N`'s wall clock instead of user CPU")
    p.add_argument("--report", action="store_true", help="each run also writes `eval --report`'s HTML (the two "
                   "trees' pages compared too)")
    p.add_argument("--diff", metavar="NEW", help="time `policyengine diff --policy POLICY --against NEW LOG`'s "
                   "wall clock instead (the two trees' reports compared)")
    p.add_argument("--neighbour", action="store_true",
                   help="each run on one core beside a memory-hungry neighbour on another (benchmarks/neighbour.py)")
    a = p.parse_args(argv)
    if a.report and (a.together or a.instructions):
        p.error("--report times the runs one after another: not with --together or --instructions")
    if a.diff and (a.together or a.instructions or a.report or a.workers or a.neighbour):
        p.error("--diff times diff's own two processes: not with --together, --instructions, --report, --workers "
                "or --neighbour")
    if a.neighbour and (a.together or a.instructions or a.workers > 1):
        p.error("--neighbour takes a core of two: not with --together, --instructions or --workers above 1")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), a.base], cwd=ROOT, check=True)
        try:
            for tree in (base, ROOT):
                compileall.compile_dir(str(tree / "policyengine"), quiet=1)
                if (tree / "setup.py").exists():       # C modules, built in place as the editable install does
                    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                                   check=True, capture_output=True)
                # One run first, so every measured run finds its compiled program kept (compiler/cache.py).
                subprocess.run(_command(a.policy, a.log, against=a.diff), cwd=tree, check=True, capture_output=True)
            if a.instructions:
                return _compare_instructions(a, base)
            times: dict[str, list[float]] = {"base": [], "change": []}
            outputs: dict[str, bytes] = {}
            ratios: list[float] = []
            beside = neighbour() if a.neighbour else contextlib.nullcontext(None)
            with beside as there:
                core = there.core if there is not None else None
                if there is not None:
                    print(there, flush=True)
                for i in range(a.runs):
                    if a.together:
                        took, outputs = _together(base, a.policy, a.log, swap=i % 2 == 1)
                        for name in times:
                            times[name].append(took[name])
                        ratios.append(took["base"] / took["change"])
                        continue
                    for name, tree in (("base", base), ("change", ROOT)):
                        extra = ("--report", str(Path(tmp) / f"{name}.html")) if a.report else ()
                        took, out = _timed(tree, a.policy, a.log, a.workers, core, extra, a.diff)
                        times[name].append(took)
                        outputs[name] = out + (Path(extra[1]).read_bytes() if extra else b"")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    for name, runs in times.items():
        print(f"{name:<7} median {statistics.median(runs):6.2f} s {'wall clock' if a.workers or a.diff else 'user CPU'}   runs: "
              + " ".join(f"{t:.2f}" for t in sorted(runs)))
    ratio = statistics.median(times["base"]) / statistics.median(times["change"])
    print(f"change is {ratio:.2f}× the base's speed ({a.base} against the working tree)")
    if ratios:
        print("rounds' ratios (run together): " + " ".join(f"{r:.2f}" for r in ratios)
              + f"; median {statistics.median(ratios):.2f}×, faster in {sum(r > 1 for r in ratios)} of {len(ratios)}")
    if outputs["base"] != outputs["change"]:
        print("THE OUTPUTS DIFFER")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.pop("POLICYENGINE_DEBUG", None)
    try:
        sys.exit(main())
    except NoNeighbour as err:
        sys.exit(f"benchmarks.ab: {err}")

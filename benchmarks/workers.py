"""`policyengine eval --workers N` against one worker, on the same log, same decisions checked.

    python -m benchmarks.workers --events 300000

Three programs whose state is all per member: the reference policies (cheap rules: every worker
still reads every line, and scans its blocks of them, a good part of such an event's cost), benchmarks/
policies/per_member.policy (heavier rules, where the split pays) and the same with a weekly
leaderboard (weekly_board.policy: the workers rank one board at each close). Prints seconds, events/s and
the speed-up for each worker count; fails if any output differs from one worker's. With
`--members`, the reference policies on benchmarks.scale's events over that many members, where
each worker also holds half the state.

With `--ceiling`, also the most two workers could give on that log: the log split into the lines
of each share's members as `eval --workers 2` splits it (the same partition and scan), and one
worker timed on each part alone. Two workers can at best take as long as the larger part alone
(its start-up, its events, none of the other's lines), so one worker's time over that is the
ceiling; what two workers give is measured against it (docs/performance-history.md, twenty-first session).
Beside it, the route's scan of every line once, in one process (`scan_seconds`): work any route
over the unsplit log must do once and the two workers share, so the larger part alone plus half
of it bounds two workers more tightly (thirty-fifth session).
The two parts are also run at once, a process each: what this machine gives two runs that share
nothing but its cores, cache and memory (twenty-second session)."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.command import eval_command
from benchmarks.scale import lines as scale_lines
from benchmarks.throughput import REFERENCE, ROOT, write_log

PROGRAMS = {"reference (ads, contributor, streak)": REFERENCE,
            "per-member spam rules": [str(ROOT / "benchmarks/policies/per_member.policy")],
            "per-member spam rules and a weekly board": [str(ROOT / "benchmarks/policies/per_member.policy"),
                                                         str(ROOT / "benchmarks/policies/weekly_board.policy")]}


def run(log: Path, policies: list[str], workers: int, *extra: str) -> tuple[float, bytes]:
    """`eval` over `log` (with `extra` arguments), its decisions written to a file as users write
    them (as throughput.engine runs it): the time, then the output. Read through a pipe instead, the benchmark's own process
    took the output as it came, on the other core: the community pack's 150 MB ran 3.35-3.69 s
    against 3.26-3.50 s to a file, alternating (twenty-fourth session)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        t = time.perf_counter()
        subprocess.run(eval_command(policies, "--workers", str(workers), *extra, "--out", out.name, str(log)), check=True)
        took = time.perf_counter() - t
        return took, Path(out.name).read_bytes()


def share_logs(log: Path, policies: list[str], folder: Path) -> list[Path]:
    """`log`'s lines of each of two shares' members, as `eval --workers 2` partitions them (the
    sample's balance, the route's scan), each in a file; lines the scan is unsure of, which every
    worker decodes, in both."""
    from policyengine.compiler.cache import load_compiled
    from policyengine.events.routing import route, route_fields
    from policyengine.parallel import balanced_partition
    from policyengine.replay import MAX_LINE_BYTES
    compiled = load_compiled(policies)[1]
    fields = route_fields(compiled.record) if compiled.record is not None else ()
    partition = balanced_partition([str(log)], 2, MAX_LINE_BYTES, fields)
    lines = log.read_bytes().split(b"\n")                 # at newlines only, as eval reads it
    if lines and lines[-1] == b"":
        lines.pop()
    paths = []
    for share in (0, 1):
        path = folder / f"share{share}.jsonl"
        routed = route(lines, fields, partition or 2, share)
        with open(path, "wb") as f:
            f.writelines(line + b"\n" for line, item in zip(lines, routed)
                         if item is line or item.__class__ is tuple)
        paths.append(path)
    return paths


def scan_seconds(log: Path, policies: list[str]) -> float:
    """The time the route's scan (events/_route.c: `bucket_counts`, the scan and the CRC of each
    line's member, as a worker scans its blocks) takes over every line of `log` once, read in the
    chunks `eval` reads; the reading is not counted. Whatever splits an unsplit log by member must
    read each line's member and time once: two workers share this work on top of their parts."""
    from policyengine.compiler.cache import load_compiled
    from policyengine.events.routing import bucket_counts, route_fields
    from policyengine.logs import line_batches
    from policyengine.replay import MAX_LINE_BYTES
    compiled = load_compiled(policies)[1]
    fields = route_fields(compiled.record) if compiled.record is not None else ()
    took = 0.0
    with open(log, "rb") as f:
        for lines in line_batches(f, MAX_LINE_BYTES):
            lines = [line for line in lines if line is not None]
            t = time.perf_counter()
            bucket_counts(lines, fields, 1024)
            took += time.perf_counter() - t
    return took


def at_most(one: float, alone: list[float], scan: float) -> tuple[float, float]:
    """What two workers could give at most against one worker's `one` seconds: over the larger
    share's lines alone (the ceiling), and over that plus half the scan of every line, which the two
    share (the bound of any route over the unsplit log)."""
    return one / max(alone), one / (max(alone) + scan / 2)


def timed(log: Path, policies: list[str], workers: int, repeat: int) -> float:
    return statistics.median(run(log, policies, workers)[0] for _ in range(repeat))


def together(logs: list[Path], policies: list[str], repeat: int) -> float:
    """The median wall time of one worker on each of `logs` started at once, a process each: what
    the machine gives two independent runs (both cores busy: a lower clock, a shared cache and
    memory), none of the work of splitting a log between them."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        running = [subprocess.Popen(eval_command(policies, "--workers", "1", str(log)), stdout=subprocess.DEVNULL)
                   for log in logs]
        if any(process.wait() != 0 for process in running):
            raise SystemExit("a share's run failed")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--members", type=int, default=0,
                   help="instead of the benchmark log (~2 000 members), benchmarks.scale's events over this many "
                        "members, every one with state (the reference policies only; e.g. --events 10000000 "
                        "--members 1000000)")
    p.add_argument("--ceiling", action="store_true",
                   help="also time one worker on each share's lines alone: the most two workers could give")
    a = p.parse_args(argv)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        programs = PROGRAMS
        if a.members:
            with open(log, "wb") as f:
                f.writelines(scale_lines(a.events, a.members, a.seed))
            programs = {f"reference, {a.members:,} members": REFERENCE}
        else:
            write_log(log, a.events, a.seed)
        for name, policies in programs.items():
            base = outputs = None
            for n in a.workers:
                times = []
                for _ in range(a.repeat):
                    took, out = run(log, policies, n)
                    times.append(took)
                    outputs = out if outputs is None else outputs
                    if out != outputs:
                        print(f"{name}: --workers {n} DECIDED DIFFERENTLY from --workers {a.workers[0]}")
                        status = 1
                took = statistics.median(times)
                base = base or took
                print(f"{name:<40} --workers {n}: {took:7.2f} s  {a.events / took:>9,.0f} events/s  "
                      f"{base / took:4.2f}× one worker")
            if a.ceiling and a.workers[0] == 1:
                parts = share_logs(log, policies, Path(tmp))
                alone = [timed(part, policies, 1, a.repeat) for part in parts]
                both = together(parts, policies, a.repeat)
                scan = scan_seconds(log, policies)
                ceiling, bound = at_most(base, alone, scan)
                print(f"{name:<40} one worker on each share's lines alone: {alone[0]:.2f} s and {alone[1]:.2f} s: "
                      f"two workers give at most {ceiling:4.2f}× one worker, and with the scan of "
                      f"every line once ({scan:.2f} s) shared, at most {bound:4.2f}×; "
                      f"the two at once: {both:.2f} s, {base / both:4.2f}×")
    return status


if __name__ == "__main__":
    sys.exit(main())

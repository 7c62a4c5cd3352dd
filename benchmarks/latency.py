"""Latency of the embedded engine: `Engine.process`, one event at a time, as a bot calls it.

    python -m benchmarks.latency --policy policies/community --log log.jsonl --events 300000
    python -m benchmarks.latency --policy policies/community --members 100000 --events 1000000

A bot cares less about events a second than about the slowest replies: a moderation decision
that waits behind a pause is a spam message left standing. This feeds a log's events to
`Engine.process` one by one and prints, for each way of running the cycle collector, the
percentiles of an event's time and what the slowest events had in them: a full collection of
the cycle collector (its pause, from `gc.callbacks`) or a sweep of expired state.

The ways (each in a process of its own, since the collector's settings are the process's):

- `default`: the bot leaves the collector as Python sets it;
- `frozen`: the bot calls `gc.freeze()` once its start-up is done (after `Engine.load`), as
  docs/api.md recommends: the interpreter's, the libraries' and the compiled program's objects
  are then never walked again, and a full collection walks only what was made since.

Events are read from the log as a bot receives them (a dict each, not kept after its call).
Invalid events raise `BadEvent` and are timed like the rest; lines that are not JSON are skipped.
Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from array import array
from fractions import Fraction
from pathlib import Path

import orjson

from benchmarks.throughput import write_log

WAYS = ("default", "frozen")
PERCENTILES = (50, 90, 99, 99.9, 99.99)


def percentile(ordered: list[int], p: float) -> int:
    """The nearest-rank percentile of an ascending list: the smallest value with at least p % of
    the values at or below it."""
    if not ordered:
        raise ValueError("no values")
    rank = math.ceil(len(ordered) * Fraction(str(p)) / 100)     # in floats 1000 × 99.9 % is 999.0…01
    return ordered[max(rank, 1) - 1]


def measure(policies: list[str], log: str, events: int, way: str, slowest: int) -> dict:
    """One way's run in this process: an event's time in ns, the collector's full collections
    and the sweeps, and the slowest events with what ran inside them."""
    from policyengine import BadEvent, Engine

    engine = Engine.load(*policies)
    if way == "frozen":
        gc.freeze()
    # Sweeps and collections are named by the event being timed: the number timed so far.
    took = array("q")                                       # not a list: the collector would walk 1M ints
    store = engine.evaluator.store
    sweep = store.sweep
    sweeps: list[int] = []

    def timed_sweep(*args, **kwargs):
        sweeps.append(len(took))
        return sweep(*args, **kwargs)
    store.sweep = timed_sweep

    collections: dict[int, int] = {}                        # event → a full collection's pause, ns
    started = [0]

    def on_collect(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        elif info["generation"] == 2:
            collections[len(took)] = collections.get(len(took), 0) + time.perf_counter_ns() - started[0]
    gc.callbacks.append(on_collect)

    clock = time.perf_counter_ns
    process = engine.process
    with open(log, "rb") as lines:
        for index, line in enumerate(lines):
            if index >= events:
                break
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:                 # not something a bot is handed
                continue
            start = clock()
            try:
                process(event)
            except BadEvent:
                pass
            took.append(clock() - start)
    gc.callbacks.remove(on_collect)
    if not took:
        raise ValueError(f"no events in {log}")

    ordered = sorted(took)
    worst = sorted(range(len(took)), key=took.__getitem__, reverse=True)[:slowest]
    return {
        "way": way,
        "events": len(took),
        "mean_ns": sum(took) // len(took),
        "percentiles_ns": {str(p): percentile(ordered, p) for p in PERCENTILES},
        "max_ns": ordered[-1],
        "full_collections": len(collections),
        "longest_collection_ns": max(collections.values(), default=0),
        "sweeps": len(sweeps),
        "sweep_events": sweeps,
        "slowest": [{"event": i, "ns": took[i], "sweep": i in sweeps, "collection_ns": collections.get(i, 0)}
                    for i in worst],
    }


def _us(ns: int) -> str:
    return f"{ns / 1000:,.1f}"


def report(results: list[dict]) -> str:
    head = "| way | events | mean µs | " + " | ".join(f"p{p} µs" for p in PERCENTILES) + \
           " | max µs | full collections (longest µs) | sweeps |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        cells = [r["way"], f"{r['events']:,}", _us(r["mean_ns"]),
                 *(_us(r["percentiles_ns"][str(p)]) for p in PERCENTILES), _us(r["max_ns"]),
                 f"{r['full_collections']} ({_us(r['longest_collection_ns'])})", str(r["sweeps"])]
        rows.append("| " + " | ".join(cells) + " |")
    for r in results:
        rows.append("")
        rows.append(f"{r['way']}: the slowest events")
        for s in r["slowest"]:
            inside = [f"a full collection of {_us(s['collection_ns'])} µs"] if s["collection_ns"] else []
            inside += ["a sweep of expired state"] if s["sweep"] else []
            rows.append(f"  event {s['event']:>9,}  {_us(s['ns']):>10} µs  {', '.join(inside) or '-'}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", action="append", required=True, help="a policy file or folder (repeatable)")
    p.add_argument("--log", help="a JSON Lines log of events (default: one generated by benchmarks.loggen)")
    p.add_argument("--events", type=int, default=300_000, help="events to feed (default 300 000)")
    p.add_argument("--members", type=int, default=2000, help="members of the generated log (default 2 000)")
    p.add_argument("--way", choices=WAYS, action="append", help="only this way (repeatable; default both)")
    p.add_argument("--slowest", type=int, default=5, help="slowest events listed per way")
    p.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)    # a child's run
    a = p.parse_args(argv)
    if a.one:
        from policyengine import PolicyError
        from policyengine.loader import PolicyPathError
        try:
            print(json.dumps(measure(a.policy, a.log, a.events, a.one, a.slowest)))
        except (OSError, ValueError, PolicyError, PolicyPathError) as e:              # said in a line, as eval says it
            print(f"latency: {e}", file=sys.stderr)
            return 2
        return 0
    if a.log is not None and not os.access(a.log, os.R_OK):
        p.error(f"cannot read the log {a.log}")
    if a.log is None:
        with tempfile.TemporaryDirectory() as folder:
            a.log = os.path.join(folder, "log.jsonl")
            write_log(Path(a.log), a.events, seed=7, members=a.members)
            return _compare(a)
    return _compare(a)


def _compare(a) -> int:
    results = []
    for way in a.way or WAYS:
        argv_child = [sys.executable, "-m", "benchmarks.latency", "--one", way, "--log", a.log,
                      "--events", str(a.events), "--slowest", str(a.slowest),
                      *(flag for path in a.policy for flag in ("--policy", path))]
        done = subprocess.run(argv_child, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"the {way} run failed: {done.stderr.strip()}", file=sys.stderr)
            return done.returncode
        results.append(json.loads(done.stdout))
    print(f"Engine.process, one event at a time; {', '.join(a.policy)}; {a.log}")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of `policyengine eval` against the orjson floor and a hand-written evaluator.

    python -m benchmarks.throughput --events 1000000

Prints events/s for each and the ratios; the same decisions are verified between the
engine and the hand-written evaluator of the reference policies.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

import orjson

from benchmarks.loggen import generate

ROOT = Path(__file__).resolve().parents[1]


def write_log(path: Path, events: int, seed: int) -> None:
    with open(path, "wb") as f:
        for e in generate(events, seed=seed):
            f.write(orjson.dumps(e) + b"\n")


def orjson_floor(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - t


def hand_written(path: Path) -> tuple[float, int]:
    """The two reference policies, written by hand as tightly as plain Python allows."""
    from datetime import datetime
    t = time.perf_counter()
    ads: dict[str, deque] = defaultdict(deque)
    muted_until: dict[str, float] = {}
    messages: dict[str, int] = defaultdict(int)
    out = 0
    with open(path, "rb") as f:
        for line in f:
            e = orjson.loads(line)
            if e["type"] != "message":
                continue
            ts = datetime.fromisoformat(e["ts"]).timestamp()
            user = e["user"]
            text = e.get("text") or ""
            folded = text.casefold()
            if "加微信" in folded or "promo.example/" in folded:
                out += 1
                q = ads[user]
                q.append(ts)
                while q[0] <= ts - 600:
                    q.popleft()
                if len(q) >= 3 and ts >= muted_until.get(user, float("-inf")):
                    muted_until[user] = ts + 3600
                    out += 1
            messages[user] += 1
            if messages[user] == 50:
                out += 1
    return time.perf_counter() - t, out


def engine(path: Path, *policies: str) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        t = time.perf_counter()
        flags = [arg for p in policies for arg in ("--policy", p)]
        subprocess.run([sys.executable, "-m", "policyengine", "eval", "--quiet", "--progress", "never",
                        *flags, "--out", out.name, str(path)], check=True)
        elapsed = time.perf_counter() - t
        return elapsed, sum(1 for _ in open(out.name, "rb"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        write_log(log, a.events, a.seed)
        results: dict[str, list[float]] = defaultdict(list)
        counts = {}
        for _ in range(a.repeat):
            results["orjson parse floor"].append(orjson_floor(log))
            s, counts["hand-written reference"] = hand_written(log)
            results["hand-written reference"].append(s)
            s, counts["policyengine eval: reference"] = engine(log, str(ROOT / "policies/examples/ads.policy"),
                                                               str(ROOT / "policies/examples/contributor.policy"))
            results["policyengine eval: reference"].append(s)
            s, counts["policyengine eval: community pack"] = engine(log, str(ROOT / "policies/community"))
            results["policyengine eval: community pack"].append(s)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"orjson {orjson.__version__}; {a.events:,} events, median of {a.repeat}")
    base = statistics.median(results["hand-written reference"])
    for name, times in results.items():
        med = statistics.median(times)
        extra = f"  decisions {counts[name]:,}" if name in counts else ""
        print(f"{name:<36} {a.events / med:>12,.0f} events/s  {base / med:>5.2f}× hand-written{extra}")
    if counts["hand-written reference"] != counts["policyengine eval: reference"]:
        print("DECISIONS DIFFER between the engine and the hand-written evaluator")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

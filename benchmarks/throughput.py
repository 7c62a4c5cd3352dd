"""Throughput of `policyengine eval` against the orjson floor and a hand-written evaluator.

    python -m benchmarks.throughput --events 1000000

Prints events/s for each and the ratios; the engine's decisions on the reference policies
(ads, contributor, streak) are verified, one by one and in order, against the hand-written
evaluator's.
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

from benchmarks.command import eval_command
from benchmarks.loggen import generate

ROOT = Path(__file__).resolve().parents[1]


def write_log(path: Path, events: int, seed: int, members: int = 2000) -> None:
    with open(path, "wb") as f:
        for e in generate(events, seed=seed, members=members):
            f.write(orjson.dumps(e) + b"\n")


def orjson_floor(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - t


def hand_written(path: Path) -> tuple[float, list]:
    """The three reference policies (ads, contributor, streak), written by hand as tightly as
    plain Python allows. Returns the time and the decisions as (action, user, event id)."""
    from datetime import datetime
    t = time.perf_counter()
    ads: dict[str, deque] = defaultdict(deque)
    muted_until: dict[str, float] = {}
    messages: dict[str, int] = defaultdict(int)
    last_day: dict[str, int] = {}
    streak: dict[str, int] = {}
    badged: set[str] = set()
    out = []
    with open(path, "rb") as f:
        for line in f:
            e = orjson.loads(line)
            kind = e["type"]
            if kind == "checkin":
                user = e["user"]
                day = int(datetime.fromisoformat(e["ts"]).timestamp()) // 86400
                before = last_day.get(user)
                if before != day:
                    streak[user] = streak.get(user, 0) + 1 if before == day - 1 else 1
                    last_day[user] = day
                if streak[user] >= 7 and user not in badged:
                    badged.add(user)
                    out.append(("award_badge", user, e.get("id")))
                continue
            if kind != "message":
                continue
            ts = datetime.fromisoformat(e["ts"]).timestamp()
            user = e["user"]
            text = e.get("text") or ""
            folded = text.casefold()
            if "加微信" in folded or "promo.example/" in folded:
                out.append(("delete", user, e.get("id")))
                q = ads[user]
                q.append(ts)
                while q[0] <= ts - 600:
                    q.popleft()
                if len(q) >= 3 and ts >= muted_until.get(user, float("-inf")):
                    muted_until[user] = ts + 3600
                    out.append(("mute", user, e.get("id")))
            messages[user] += 1
            if messages[user] == 50:
                out.append(("promote", user, e.get("id")))
    return time.perf_counter() - t, out


REFERENCE = [str(ROOT / "policies/examples" / f"{name}.policy") for name in ("ads", "contributor", "streak")]


def engine(path: Path, *policies: str, workers: int = 1) -> tuple[float, list]:
    """`policyengine eval` as users run it, in its own process (start-up included)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        t = time.perf_counter()
        subprocess.run(eval_command(policies, "--workers", str(workers), "--out", out.name, str(path)), check=True)
        elapsed = time.perf_counter() - t
        with open(out.name, "rb") as f:
            return elapsed, decided(f.read())


def decided(output: bytes) -> list[tuple]:
    """`eval`'s decisions (its JSON lines) as the hand-written evaluator gives them: (action, user, event id)."""
    return [(d["action"], d["user"], d.get("event_id")) for d in map(orjson.loads, output.splitlines())]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        write_log(log, a.events, a.seed)
        results: dict[str, list[float]] = defaultdict(list)
        decided = {}
        for _ in range(a.repeat):
            results["orjson parse floor"].append(orjson_floor(log))
            s, decided["hand-written reference"] = hand_written(log)
            results["hand-written reference"].append(s)
            s, decided["policyengine eval: reference"] = engine(log, *REFERENCE)
            results["policyengine eval: reference"].append(s)
            s, decided["  the same, --workers 2"] = engine(log, *REFERENCE, workers=2)
            results["  the same, --workers 2"].append(s)
            s, decided["policyengine eval: community pack"] = engine(log, str(ROOT / "policies/community"))
            results["policyengine eval: community pack"].append(s)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"orjson {orjson.__version__}; {a.events:,} events, median of {a.repeat}")
    base = statistics.median(results["hand-written reference"])
    fastest = min(results["hand-written reference"])
    for name, times in results.items():
        med = statistics.median(times)
        extra = f"  decisions {len(decided[name]):,}" if name in decided else ""
        print(f"{name:<36} {a.events / med:>12,.0f} events/s  {base / med:>5.2f}× hand-written{extra}")
    # This kind of machine moves by up to 2× between runs minutes apart, so the medians of two
    # columns can come from different speeds. Every run, the ratio within each round (its runs are
    # minutes apart, not tens of minutes) and that of the fastest runs (noise only adds time) say
    # how far to trust them.
    hand = results["hand-written reference"]
    for name, times in results.items():
        paired = statistics.median(h / t for h, t in zip(hand, times))
        print(f"  {name.strip():<34} runs (s): {' '.join(f'{t:.2f}' for t in times)}"
              f"   median of the rounds' ratios {paired:.2f}×, fastest vs fastest {fastest / min(times):.2f}×")
    if not decided["hand-written reference"] == decided["policyengine eval: reference"] \
            == decided["  the same, --workers 2"]:
        print("DECISIONS DIFFER between the engine and the hand-written evaluator")
        return 1
    print("same decisions, in the same order, from the engine and the hand-written evaluator")
    return 0


if __name__ == "__main__":
    sys.exit(main())

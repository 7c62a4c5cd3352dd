"""Crash soak: kill `eval --state` with SIGKILL at random moments over a large log, resume each
time, and check that the state file passes `PRAGMA integrity_check` after every kill and that
the final output equals one clean run, byte for byte.

    python -m benchmarks.soak --events 2000000 --kills 10
"""
from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.command import eval_command
from benchmarks.loggen import generate

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--policy", default=str(ROOT / "policies/examples"))
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log = tmp / "log.jsonl"
        with open(log, "wb") as f:
            for e in generate(a.events, seed=a.seed):
                f.write(orjson.dumps(e) + b"\n")
        base = eval_command([a.policy])
        started = time.perf_counter()
        subprocess.run(base + ["--out", str(tmp / "clean.jsonl"), str(log)], check=True, cwd=ROOT)
        clean_s = time.perf_counter() - started
        cmd = base + ["--state", str(tmp / "state.db"), "--checkpoint-every", "20000", "--out", str(tmp / "out.jsonl"),
                      str(log)]
        kills = 0
        for i in range(a.kills):
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, max(0.5, clean_s / 2)))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            check = sqlite3.connect(tmp / "state.db").execute("PRAGMA integrity_check").fetchone()[0]
            done = sqlite3.connect(tmp / "state.db").execute("SELECT value FROM meta WHERE key='progress'").fetchone()
            print(f"run {i + 1}: {'killed' if proc.returncode == -signal.SIGKILL else 'finished'}, "
                  f"integrity {check}, committed {done[0] if done else '{}'}", flush=True)
            if check != "ok":
                return 1
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        same = (tmp / "out.jsonl").read_bytes() == (tmp / "clean.jsonl").read_bytes()
        lines = (tmp / "clean.jsonl").read_bytes().count(b"\n")
        print(f"{a.events:,} events, {kills} kills, clean run {clean_s:.1f} s, {lines:,} decisions; "
              f"final output equals the clean run: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

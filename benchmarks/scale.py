"""Memory and time at scale: `policyengine eval` on many events over many distinct members.

    python -m benchmarks.scale --events 10000000 --members 1000000

Events are generated on the fly and piped to `policyengine eval -` on the three reference
policies (ads, contributor, streak): 20 a second, 80 % messages (one in fifty an ad), 15 %
reactions, 5 % check-ins; the first `--members` events each bring a new member, the rest pick
members at random, so every member has state. Prints the time, events/s and the eval process's
peak resident memory (the target is under 1 GB for 10M events over 1M members).
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from benchmarks.command import eval_command
from benchmarks.throughput import REFERENCE

START = datetime(2026, 11, 2, tzinfo=timezone.utc)
TEXTS = [b"hello everyone", b"\xe5\xa4\xa7\xe5\xae\xb6\xe5\xa5\xbd", b"thanks, that fixed it", b"+1",
         b"see you at the meetup", b"\xe8\xb0\xa2\xe8\xb0\xa2"]
AD = "加微信 deal8888".encode()


def lines(events: int, members: int, seed: int):
    rng = random.Random(seed)
    for n in range(events):
        user = n if n < members else rng.randrange(members)
        stamp = (START + timedelta(milliseconds=50 * n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        roll = rng.random()
        head = b'{"type":"%s","ts":"%s","user":"u%d","id":"e%d"' % (
            b"message" if roll < 0.8 else b"reaction" if roll < 0.95 else b"checkin", stamp.encode(), user, n)
        if roll < 0.8:
            text = AD if rng.random() < 0.02 else rng.choice(TEXTS)
            yield head + b',"text":"' + text + b'"}\n'
        else:
            yield head + b"}\n"


# The eval is started by a small process of its own, which reports the eval's peak. A child's
# ru_maxrss counts the memory of the process it was forked from, up to its exec (the kernel keeps
# the larger of the two): started from a test run that had grown to 349 MB, a 30 MB eval read 349.
_LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(log: Path | Iterable[bytes]) -> tuple[float, float, int]:
    """`eval` of the reference policies over `log`, a file, or lines piped to it as they come
    (`lines(...)`): seconds (generating them included), the eval process's own peak resident
    memory in MB, and its exit code."""
    piped = not isinstance(log, Path)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCH,
                             *eval_command(REFERENCE, "--out", "/dev/null", "-" if piped else str(log))],
                            stdin=subprocess.PIPE if piped else subprocess.DEVNULL, stdout=subprocess.PIPE)
    if piped:
        batch = []
        for line in log:
            batch.append(line)
            if len(batch) == 10_000:
                proc.stdin.write(b"".join(batch))
                batch.clear()
        proc.stdin.write(b"".join(batch))
        proc.stdin.close()
    report = proc.stdout.read().split()
    proc.wait()
    took = time.perf_counter() - t
    if len(report) != 2:
        return took, 0.0, proc.returncode or 1
    return took, int(report[0]) / 1024, int(report[1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    took, peak_mb, code = measure(lines(a.events, a.members, a.seed))
    print(f"{a.events:,} events over {a.members:,} members: {took:.1f} s ({a.events / took:,.0f} events/s, "
          f"generation included), eval peak RSS {peak_mb:.0f} MB, exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())

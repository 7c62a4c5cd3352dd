"""Is a change faster? Alternating whole `policyengine eval` runs of a base revision and the working tree.

    python -m benchmarks.ab --base HEAD --policy policies/community --log data/sample/community-chat.jsonl.gz

The development machine's speed moves by up to 2× within minutes, so one run against another
means little. This checks the base revision out into a temporary worktree, byte-compiles both
trees, then runs them in turn (base, change, base, change, …) and compares the medians of the
user CPU time each run took. Both outputs must be identical, or it says so and fails.
"""
from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _user_cpu(tree: Path, policies: list[str], log: str) -> tuple[float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    flags = [arg for p in policies for arg in ("--policy", str((ROOT / p).resolve()))]
    done = subprocess.run([sys.executable, "-m", "policyengine", "eval", "--quiet", "--progress", "never",
                           *flags, str(Path(log).resolve())], cwd=tree, capture_output=True, check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before, done.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="HEAD", help="the revision to compare with (default HEAD)")
    p.add_argument("--policy", action="append", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), a.base], cwd=ROOT, check=True)
        try:
            for tree in (base, ROOT):
                compileall.compile_dir(str(tree / "policyengine"), quiet=1)
            times: dict[str, list[float]] = {"base": [], "change": []}
            outputs: dict[str, bytes] = {}
            for _ in range(a.runs):
                for name, tree in (("base", base), ("change", ROOT)):
                    took, out = _user_cpu(tree, a.policy, a.log)
                    times[name].append(took)
                    outputs[name] = out
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    for name, runs in times.items():
        print(f"{name:<7} median {statistics.median(runs):6.2f} s user CPU   runs: "
              + " ".join(f"{t:.2f}" for t in sorted(runs)))
    ratio = statistics.median(times["base"]) / statistics.median(times["change"])
    print(f"change is {ratio:.2f}× the base's speed ({a.base} against the working tree)")
    if outputs["base"] != outputs["change"]:
        print("THE OUTPUTS DIFFER")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.pop("POLICYENGINE_DEBUG", None)
    sys.exit(main())

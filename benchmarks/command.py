"""The `policyengine eval` command line the benchmarks run: quiet, no progress line."""
from __future__ import annotations

import sys


def eval_command(policies, *args: str) -> list[str]:
    """argv for `policyengine eval` with each of `policies` as a --policy, then `args`."""
    return [sys.executable, "-m", "policyengine", "eval", "--quiet", "--progress", "never",
            *(flag for p in policies for flag in ("--policy", str(p))), *args]

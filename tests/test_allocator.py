"""The command line keeps freed memory in the heap (cli/allocator.py).

What it is for is speed, which tests do not time; what can be checked is its mechanism: after
`keep_freed_memory`, serialising decisions one by one, as `eval` writes them, no longer faults
pages in again and again. Run in a fresh interpreter each, so the thresholds of this one stay as
they were.
"""
from __future__ import annotations

import platform
import subprocess
import sys

_CHURN = """
import resource, sys, orjson
from policyengine.cli.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "kept" else None
decision = {"ts": "2026-01-01T00:00:00Z", "policy": "community", "rule": "welcome", "action": "notify",
            "user": "u1234", "event_id": "e99", "message": "hello there"}
stretch = [dict(decision) for _ in range(2000)]
def churn():
    for _ in range(20):
        del _ign[:]
        _ign.append(b"".join([orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in stretch]))
_ign = []
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True)
    kept, faults = done.stdout.split()
    return kept, int(faults)


def test_freed_memory_is_reused_not_faulted_in_again():
    if platform.libc_ver()[0] != "glibc":
        assert _faults("kept")[0] == "False"        # elsewhere it says it changed nothing
        return
    kept, faults = _faults("kept")
    assert kept == "True"
    # 40 000 decisions serialised and joined in stretches of 2 000: with the heap's top kept, their
    # buffers come from memory already mapped. (Without it, glibc gave that memory back after every
    # stretch: about one page fault a decision. With the trim threshold alone, each stretch's
    # joined output, past 128 kB, would be a fresh `mmap`.)
    assert faults < 500, faults


def test_the_default_allocator_faults_on_the_same_work():
    """The check above can fail: on the same work, glibc's own thresholds fault pages in over and over."""
    if platform.libc_ver()[0] != "glibc":
        return
    assert _faults("default")[1] > 5_000

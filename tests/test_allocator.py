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


# pymalloc's arenas from one huge-page region (cli/_arenas.c). Each run in a fresh interpreter: an
# arena allocator, once set, stays for the process.
_ARENAS = """
import json, sys
from policyengine.cli import _arenas
MiB = 1 << 20
reserve = int(sys.argv[1])
took = _arenas.huge_page_arenas(reserve)
start, end, _, _ = _arenas.held()
def inside(objs):
    return sum(start <= id(o) < end for o in objs)
# 640 000 3-tuples (64 bytes each) of an int (32): 59 MiB, past what the arenas made before could hold
made = [(i, i, i) for i in range(640_000)]
after_made = _arenas.held()
made_inside = inside(made)
total = sum(t[0] for t in made)
flags = ""
for block in open("/proc/self/smaps").read().split("\\n" + format(start, "x") + "-")[1:2]:
    flags = block.split("VmFlags:")[1].split("\\n")[0]
del made
after_freed = _arenas.held()
again = [(i, i, i) for i in range(640_000)]
after_again = _arenas.held()
print(json.dumps({"took": took, "start": start, "end": end, "made": after_made, "made_inside": made_inside,
                  "total": total, "freed": after_freed, "again": after_again, "again_inside": inside(again),
                  "flags": flags.split(), "again_total": sum(t[0] for t in again)}))
"""


def _arenas_run(reserve: int) -> dict:
    import json
    done = subprocess.run([sys.executable, "-c", _ARENAS, str(reserve)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _huge_pages_mode() -> str | None:
    """The kernel's transparent huge page mode ("always", "madvise", "never"), None without them."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        return None


def test_new_arenas_come_from_the_huge_page_region_and_freed_ones_are_reused():
    run = _arenas_run(256 << 20)
    assert run["total"] == 640_000 * 639_999 // 2 and run["again_total"] == run["total"]
    if not run["took"]:
        # a kernel that refuses MADV_HUGEPAGE: nothing changed, the objects are where they were
        assert _huge_pages_mode() is None
        assert (run["start"], run["end"], run["made"][2], run["made"][3], run["made_inside"]) == (0, 0, 0, 0, 0)
        return
    MiB = 1 << 20
    assert run["start"] % (2 * MiB) == 0 and run["end"] - run["start"] == 256 * MiB
    if _huge_pages_mode() in ("always", "madvise"):
        assert "hg" in run["flags"]                   # the kernel holds the region as MADV_HUGEPAGE
    handed, given_back = run["made"][2], run["made"][3]
    # 640 000 tuples and ints of 96 bytes are 59 MiB: all but what older arenas had free came from the region
    assert 50 * MiB <= handed <= 64 * MiB and handed % MiB == 0
    assert given_back == 0
    assert run["made_inside"] >= 640_000 * 3 // 4
    # freed, the emptied arenas wait in the region rather than going back to the kernel ...
    assert run["freed"][2] == handed and run["freed"][3] >= 20
    # ... and the same work again takes them, not fresh ones
    assert run["again"][2] == handed
    assert run["again"][3] < run["freed"][3]
    assert run["again_inside"] >= 640_000 * 3 // 4


def test_past_the_region_arenas_come_from_the_allocator_before_it():
    run = _arenas_run(3 << 20)                        # three arenas' worth
    assert run["total"] == 640_000 * 639_999 // 2
    if not run["took"]:
        assert _huge_pages_mode() is None and run["made"][2] == 0
        return
    assert run["made"][2] == 3 << 20                  # all of it handed out, and no further
    # the rest of the 59 MiB lies outside it, and every tuple still holds what it was made with
    assert 0 < run["made_inside"] <= 3 * (1 << 20) // 64
    assert run["total"] == 640_000 * 639_999 // 2
    assert run["again_total"] == run["total"]


def test_a_reserve_under_one_arena_changes_nothing():
    run = _arenas_run((1 << 20) - 1)
    assert run["took"] is False
    assert (run["start"], run["end"], run["made"][2], run["made"][3]) == (0, 0, 0, 0)
    assert run["made_inside"] == 0                    # [0, 0) holds nothing
    assert run["total"] == 640_000 * 639_999 // 2

"""Keep memory the C allocator got back for the next allocation, instead of handing it to the OS.

glibc's malloc gives the top of its heap back to the kernel when more than a threshold of it is
free, and serves large requests with fresh `mmap`s; both thresholds move with what the process
did last. A run of `eval` allocates and frees the same sizes over and over (orjson's output
buffer for every decision, a stretch's joined output, a batch of lines), so the heap's top was
given back and faulted in again all run long: on the community pack over 300 000 events, 184 650
page faults, one for every decision or so, and a fifth of the process's time (docs/performance-history.md,
tenth session). With both thresholds fixed high the freed memory stays in the heap for the next
request: 8 618 page faults, the same decisions.

Python's own small-object allocator takes its arenas from `_arenas` here, in a region the kernel
may back with transparent huge pages: fewer TLB misses on the state every event touches
(`huge_page_arenas`).

Only the command-line process does this (`main.entry`): it ends with its run, so what it keeps
is never needed elsewhere. A bot that embeds the engine keeps its own allocator settings; the
same can be had there with `MALLOC_TRIM_THRESHOLD_` and `MALLOC_MMAP_THRESHOLD_` in the environment.
"""
from __future__ import annotations

import ctypes

# glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Free memory at the top of the heap kept up to this much (a run's state is rarely past it), and
# requests served from the heap up to glibc's largest mmap threshold (32 MB on 64-bit).
TRIM_THRESHOLD = 256 << 20
MMAP_THRESHOLD = 32 << 20


def keep_freed_memory() -> bool:
    """Fix glibc malloc's trim and mmap thresholds for this process. False where the C library is
    not glibc (nothing changes then: only speed depends on it)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt         # the process's own symbols: libc's where it is glibc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # Setting either turns off glibc's moving thresholds; both are set, or large requests would
    # go to mmap at the fixed default of 128 kB.
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


# Address space reserved for pymalloc's arenas, not memory taken: pages are backed as arenas touch
# them. Past it (10M events over 1M members took under 1 GB in all), arenas come from where they
# did before.
ARENA_RESERVE = 4 << 30


def huge_page_arenas(reserve: int = ARENA_RESERVE) -> bool:
    """Hand pymalloc's next arenas out of one 2 MiB-aligned region marked for transparent huge pages.
    False where the C module is not built or the kernel has no such pages: nothing changes then."""
    try:
        from policyengine.cli import _arenas
    except ImportError:
        return False
    return _arenas.huge_page_arenas(reserve)

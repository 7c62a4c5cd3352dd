"""State and reads for each aggregate. Windows hold (t − width, t]: the lower edge is open.

A windowed count keeps a bare deque of times (the hot path; in C, a `Times` ring where it was
built, which reads as the deque does); the others keep a `Window` of (time, value) entries plus a
running summary that eviction keeps exact.
"""
from __future__ import annotations

from collections import deque

from policyengine.runtime.text import similarity, simhash


class Window:
    __slots__ = ("kind", "entries", "summary")

    def __init__(self, kind: str):
        self.kind = kind                       # sum | distinct | repeats | similar
        self.entries: deque = deque()
        # value → entries holding it. A plain dict: Counter's `__missing__` and `__delitem__`
        # are Python code, and ran on most messages of the community pack.
        self.summary = 0 if kind == "sum" else (None if kind == "similar" else {})

    def add(self, ts: int, value) -> None:
        # The summary first: a value it cannot count (a list to a dict, text to a sum) fails here
        # and is not kept, so no later eviction or state file meets it again.
        summary = self.summary
        if self.kind == "sum":
            self.summary = summary + value
        elif summary is not None:
            summary[value] = summary.get(value, 0) + 1
        self.entries.append((ts, value))

    def __len__(self) -> int:
        return len(self.entries)

    def evict(self, low: int) -> None:
        entries = self.entries
        summary = self.summary
        while entries and entries[0][0] <= low:
            _, value = entries.popleft()
            if self.kind == "sum":
                self.summary -= value
            elif summary is not None:
                left = summary[value] - 1
                if left:
                    summary[value] = left
                else:
                    del summary[value]
        if not entries and self.kind == "sum":
            self.summary = 0                   # no float drift once the window is empty


PythonWindow = Window          # the name below is the C type where it was built; this one stays Python


def evict(table: dict, key, low: int) -> None:
    """Drop entries at or before `low`; drop the key when nothing is left. For the store's sweep,
    over windowed counts (bare deques) and Windows alike; reads of a Window use _current."""
    state = table.get(key)
    if state is None:
        return
    if state.__class__ is deque:
        while state and state[0] <= low:
            state.popleft()
        empty = not state
    else:
        state.evict(low)
        empty = not len(state)
    if empty:
        del table[key]


def evict_all(table: dict, low: int) -> None:
    """`evict` for every key of the table: the store's sweep."""
    for key in list(table):
        evict(table, key, low)


# ---- updates (the counted event) ----------------------------------------------
def add_window(table: dict, key, kind: str, ts: int, value) -> None:
    if value is None:
        return
    state = table.get(key)
    if state is None:
        state = table[key] = PythonWindow(kind)
    state.add(ts, value)


def add_sum(table: dict, key, value) -> None:
    if value is not None and value.__class__ is not bool:
        table[key] = table.get(key, 0) + value


def add_distinct(table: dict, key, value) -> None:
    if value is not None:
        table.setdefault(key, set()).add(value)


def similar_key(text):
    return simhash(text) if text.__class__ is str else None


def add_elapsed(table: dict, key, ts: int, seq: int) -> None:
    last = table.get(key)
    table[key] = (ts, last[0] if last else None, seq)


# ---- reads (the current event) ---------------------------------------------------
def _current(table: dict, key, low: int):
    """The key's Window after dropping entries at or before `low`; None when nothing is left."""
    state = table.get(key)
    if state is None:
        return None
    # evict() stops at the first entry inside; len(), not `entries`, which a C window builds anew.
    state.evict(low)
    if not len(state):
        del table[key]
        return None
    return state


def window_sum(table: dict, key, now: int, width: int):
    state = _current(table, key, now - width)
    return state.summary if state is not None else 0


def window_distinct(table: dict, key, now: int, width: int) -> int:
    state = _current(table, key, now - width)
    return len(state.summary) if state is not None else 0


def all_time_distinct(table: dict, key) -> int:
    values = table.get(key)
    return len(values) if values else 0


def window_repeats(table: dict, key, now: int, width: int, wanted) -> int:
    """Events in the window whose normalised text equals this one's, `wanted` (this one included)."""
    if wanted is None:
        return 0
    state = _current(table, key, now - width)
    return state.summary.get(wanted, 0) if state is not None else 0


def window_similar(table: dict, key, now: int, width: int, text, threshold: float) -> int:
    """Events in the window whose SimHash similarity to this text is at least `threshold`."""
    if text.__class__ is not str:
        return 0
    state = _current(table, key, now - width)
    if state is None:
        return 0
    mine = simhash(text)
    return sum(1 for _, other in state.entries if similarity(mine, other) >= threshold)


def elapsed(table: dict, key, now: int, seq: int):
    """Seconds since the previous counted event with this key, this event excluded; missing if none."""
    state = table.get(key)
    if state is None:
        return None
    last, previous, last_seq = state
    before = previous if last_seq == seq else last
    return None if before is None else (now - before) / 1_000_000


# The Python definitions above, kept for the tests that hold the C module to them.
PYTHON_WINDOWS = {"Window": PythonWindow, "add_window": add_window, "window_distinct": window_distinct,
                  "window_repeats": window_repeats, "window_sum": window_sum, "evict_all": evict_all}


def add_read(table: dict, key, kind: str, ts: int, value, width: int) -> int:
    """add_window, then what the rules of the same handler read of the window at the same time:
    how often it holds `value` ('repeats') or how many values it holds ('distinct'). A handler
    that adds with no filter before its rules hands them this in a local (compiler/codegen.py).
    Through the Python definitions, whatever the C import below rebinds."""
    if kind not in ("repeats", "distinct"):
        raise ValueError("add_read reads a 'repeats' or a 'distinct' window")
    PYTHON_WINDOWS["add_window"](table, key, kind, ts, value)
    if kind == "repeats":
        return PYTHON_WINDOWS["window_repeats"](table, key, ts, width, value)
    return PYTHON_WINDOWS["window_distinct"](table, key, ts, width)


PYTHON_WINDOWS["add_read"] = add_read

# The same in C where it was built (runtime/_windows.c): the community pack keeps five windows
# a message, and each add or read here was one to three Python frames.
# COUNT_TIMES: what a windowed count's times may be held in, for whatever shows or stores them.
COUNT_TIMES: tuple = (deque,)
try:
    from policyengine.runtime._windows import (Times, Window, add_read, add_window, evict_all,  # noqa: F811
                                               window_distinct, window_repeats, window_sum)
    COUNT_TIMES = (deque, Times)
except ImportError:                                  # pragma: no cover - no C compiler at install
    pass

"""Pure helpers for incentives: seeded random amounts, streaks, active days, levels, rankings."""
from __future__ import annotations

import heapq
from bisect import insort
from hashlib import blake2b



def seeded_random(low, high, event: dict, salt: int) -> int | None:
    """A whole number in [low, high], the same every replay: seeded by the event's id (else its time)."""
    if low is None or high is None:
        return None
    low, high = int(low), int(high)
    if high < low:
        low, high = high, low
    seed = f"{event.get('id') or event.get('ts')}/{salt}".encode()
    return low + int.from_bytes(blake2b(seed, digest_size=8).digest(), "big") % (high - low + 1)


# ---- streaks ---------------------------------------------------------------------------
def streak_add(table: dict, key, period: int, grace: int) -> None:
    """Consecutive periods with an event; same-period events count once; up to `grace` missed
    periods in between do not break it (and do not count)."""
    state = table.get(key)
    if state is None:
        table[key] = [period, 1, 1]
        return
    last, current, best = state
    if period <= last:
        return
    current = current + 1 if period - last - 1 <= grace else 1
    table[key] = [period, current, max(best, current)]


def streak_now(table: dict, key, period: int, grace: int) -> int:
    state = table.get(key)
    if state is None:
        return 0
    last, current, _ = state
    return current if period - last - 1 <= grace else 0


def streak_best(table: dict, key) -> int:
    state = table.get(key)
    return 0 if state is None else state[2]


def active_days_add(table: dict, key, day: int, span: int) -> None:
    """The member's active days, ascending: in event time a day never comes before the last one
    kept, but should one ever come (a calendar unlike ours), it goes in its place."""
    days = table.get(key)
    if not days:
        table[key] = [day]
        return
    if days[-1] < day:
        days.append(day)
    elif days[-1] != day and day not in days:
        insort(days, day)
    while days and days[0] <= day - span:
        days.pop(0)


def active_days_now(table: dict, key, day: int, span: int) -> int:
    days = table.get(key)
    if not days:
        return 0
    if days[0] > day - span and days[-1] <= day:       # the usual case (ascending): every day kept is inside
        return len(days)
    return sum(1 for d in days if day - span < d <= day)


def active_days_add_read(table: dict, key, day: int, span: int) -> int:
    """active_days_add, then what active_days_now reads at the same day: how a handler that keeps
    active days on every event of its type hands its rules the count in a local (compiler/codegen.py)."""
    active_days_add(table, key, day, span)
    return active_days_now(table, key, day, span)


python_active_days_add_read = active_days_add_read     # kept for the tests that hold the C one to it
try:                                                    # in C where it was built (runtime/_windows.c)
    from policyengine.runtime._windows import active_days_add_read  # noqa: F811
except ImportError:                                     # pragma: no cover - no C compiler at install
    pass


# ---- levels ------------------------------------------------------------------------------
def level_of(spec, balance: float) -> int:
    """Index of the highest level whose threshold the balance reaches (0: the first level)."""
    if spec.formula is not None:
        level, total = 0, 0.0
        while level < 10_000:
            need = spec.formula(level)
            if need <= 0 or total + need > balance:
                break
            total += need
            level += 1
        return level
    index = 0
    for i, (threshold, _, _) in enumerate(spec.entries):
        if balance >= threshold:
            index = i
    return index


def level_name(spec, index: int) -> str:
    if spec.formula is not None:
        return (spec.formula_name or "Level {level}").replace("{level}", str(index))
    return spec.entries[index][1]


# ---- leaderboards ---------------------------------------------------------------------------
PLACE_BITS = 8        # award_place: awards, ranks and a winner's decisions under 256 each


def award_place(award: int, rank: int, nth: int) -> int:
    """A period award's decision's place among its close's decisions, as an int that sorts as
    (award, rank, nth) does; ValueError past what PLACE_BITS holds (compiler/partition.py keeps
    programs whose awards could pass it on one worker; a winner's decisions are checked here)."""
    limit = 1 << PLACE_BITS
    if not (award < limit and rank < limit and nth < limit):
        raise ValueError("a period award's decisions are too many to place for the merge")
    return (award << 2 * PLACE_BITS) | (rank << PLACE_BITS) | nth


def python_ranking(board: dict, top: int, allowed=None) -> list[tuple]:
    """Highest value first; equal values: who reached it first; then member id. Values ≤ 0 never win.
    The definition of `ranking`, which is runtime/_points.c's `top_of` where it was built."""
    entries = [(-value, seq, member, value) for member, (value, seq) in board.items()
               if value > 0 and (allowed is None or allowed(member))]
    return [(member, value) for _, _, member, value in heapq.nsmallest(top, entries)]


def ranking(board, top: int, allowed=None) -> list[tuple]:
    """`python_ranking`, in C where it was built and reads the board (a monthly close at 100 000
    members was ~60 ms of one `Engine.process` call in Python)."""
    if _top_of is not None:
        winners = _top_of(board, top, allowed)
        if winners is not NotImplemented:
            return winners
    return python_ranking(board, top, allowed)


try:
    from policyengine.runtime._points import top_of as _top_of
except ImportError:         # the C module is optional (setup.py)
    _top_of = None



"""Functions the generated evaluators call. Every test on a missing value (None) is false."""
from __future__ import annotations

import zlib
from collections import deque

from policyengine.events.native import casefold as fold_text  # noqa: F401 (for generated code)
from policyengine.events.native import format_us
from policyengine.events.timestamps import format_ts
from policyengine.runtime import text as _text
from policyengine.runtime.text import link_count_of  # noqa: F401 (for generated code)

normalize = _text.normalize
from policyengine.runtime.incentives import seeded_random  # noqa: E402,F401  (for generated code)
TEXT_FUNCTIONS = {"normalize": _text.normalize, "link_count": _text.link_count,
                   "mention_count": _text.mention_count, "caps_ratio": _text.caps_ratio,
                   "emoji_ratio": _text.emoji_ratio}

_MISSING = object()


def window_count(table: dict, key, now: int, width: int) -> int:
    """Events in (now − width, now]: the lower edge is open, the current event counts."""
    dq = table.get(key)
    if not dq:
        return 0
    low = now - width
    while dq and dq[0] <= low:
        dq.popleft()
    n = len(dq)
    if not n:
        del table[key]
    return n


python_window_count = window_count          # kept for the tests that hold the C module to them


def add_count(table: dict, key, ts: int, width: int) -> int:
    """The key's times take `ts`, then window_count: how a handler that counts with no filter
    before its rules hands them the count in a local (compiler/codegen.py)."""
    times = table.get(key)
    if times is None:
        times = table[key] = deque()
    times.append(ts)
    return python_window_count(table, key, ts, width)


python_add_count = add_count


def count_up(table: dict, key) -> int:
    """An all-time count's update: the key's count, one more, kept and handed to the rules."""
    n = table[key] = table.get(key, 0) + 1
    return n


python_count_up = count_up
try:                                        # the same in C where it was built (runtime/_windows.c)
    from policyengine.runtime._windows import add_count, count_up, window_count  # noqa: F811
except ImportError:                         # pragma: no cover - no C compiler at install
    pass


def replace_pair(table: dict, key, a, b) -> bool:
    """table[key] = (a, b) if the key is there, and True; False, touching nothing, if not. How the
    generated code re-arms a silence that is already running (Timeline.arm does the rest)."""
    if key in table:
        table[key] = (a, b)
        return True
    return False


def member_seen(members: dict, member, ts: int) -> None:
    """A message's member counted, as the record loop does it: a member not seen before is
    [first seen, joined, messages since] = [ts, ts, 1]; one seen has its count one more."""
    row = members.get(member)
    if row is None:
        members[member] = [ts, ts, 1]
    else:
        row[2] += 1


def replace_pair_of(table: dict, member, a, b) -> bool:
    """replace_pair(table, (member,), a, b): a silence by one member re-armed (in C without the
    tuple where the table is a column of them)."""
    return replace_pair(table, (member,), a, b)


def pop_of(table: dict, member) -> None:
    """table.pop((member,), None): a silence by one member ended."""
    table.pop((member,), None)


def cooldown_take(table: dict, key, now: int, width: int) -> bool:
    """A `cooldown` rule's gate: when no cooldown of `key` runs at `now` (none kept, or it ended
    at or before now), it starts one, ending at now + width, and says True; while one runs it
    changes nothing and says False."""
    until = table.get(key)
    if until is None or now >= until:
        table[key] = now + width
        return True
    return False


def drop_ended(table: dict, now: int) -> None:
    """The store's sweep of a cooldown table: every key whose cooldown ended at or before `now`
    goes."""
    for key, until in list(table.items()):
        if until <= now:
            del table[key]


def starts_with_any(text, prefixes: tuple) -> bool:
    """`text starts with "a" or text starts with "b"` on a case-folded field: whether the text
    starts with one of the prefixes; False for what is not a str (a missing text folds to None)."""
    return text.__class__ is str and text.startswith(prefixes)


python_starts_with_any = starts_with_any


def folded_starts_with_any(text, prefixes: tuple) -> bool:
    """`text starts with "a" or …` on a field: whether the case-folded text starts with one of the
    (case-folded) prefixes; False for what is not a str. In C, only the text's start is folded."""
    return text.__class__ is str and text.casefold().startswith(prefixes)


python_folded_starts_with_any = folded_starts_with_any
try:                                        # in C where it was built: no argument tuple to parse (runtime/_words.c)
    from policyengine.runtime._words import folded_starts_with_any, starts_with_any  # noqa: F811
except ImportError:                         # pragma: no cover - no C compiler at install
    pass


def board_add(store, boards: dict, key: tuple, member, amount, seen=None) -> None:
    """A leaderboard counting: the member's entry in `boards[key]` (value, when they reached it:
    the tie-break) with `amount` added, at event count `seen` (the store's when None). The
    generated handlers call it for count and sum boards on every event they count, Rewards for
    points awarded where the giver is Python."""
    if member is None or not amount:
        return
    board = store.member_table(boards, key)
    value, _ = board.get(member, (0, 0))
    board[member] = (value + amount, store.events_seen if seen is None else seen)


python_board_add = board_add
python_replace_pair = replace_pair          # kept for the tests that hold the C module to them
python_replace_pair_of, python_pop_of, python_member_seen = replace_pair_of, pop_of, member_seen
python_cooldown_take, python_drop_ended = cooldown_take, drop_ended
try:                                        # in C where it was built: in place, one lookup (runtime/_points.c)
    from policyengine.runtime._points import (board_add, cooldown_take, drop_ended, member_seen, pop_of,  # noqa: F811
                                              replace_pair, replace_pair_of)
except ImportError:                         # pragma: no cover - no C compiler at install
    pass


def has_label(labels: dict, user, label, now: int) -> bool:
    """A label is in force from when it was set until (not including) its expiry."""
    held = labels.get(user)
    if not held:
        return False
    expiry = held.get(label, _MISSING)
    if expiry is _MISSING:
        return False
    if expiry is None or now < expiry:
        return True
    del held[label]
    return False


def active_labels(labels: dict, user, now: int) -> list:
    held = labels.get(user)
    if not held:
        return []
    return sorted(name for name in list(held) if has_label(labels, user, name, now))


def set_label(labels: dict, user, label, now: int, duration_s) -> None:
    expiry = None if duration_s is None else now + int(round(duration_s * 1_000_000))
    labels.setdefault(user, {})[label] = expiry


def remove_label(labels: dict, user, label) -> None:
    held = labels.get(user)
    if held:
        held.pop(label, None)


def casefold(value):
    return value.casefold() if value.__class__ is str else None


def get_path(event: dict, path: tuple):
    value = event
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# ---- word operators on values that are not known at compile time -----------
def contains(text, part) -> bool:
    return isinstance(text, str) and isinstance(part, str) and part.casefold() in text.casefold()


def starts_with(text, part) -> bool:
    return isinstance(text, str) and isinstance(part, str) and text.casefold().startswith(part.casefold())


def ends_with(text, part) -> bool:
    return isinstance(text, str) and isinstance(part, str) and text.casefold().endswith(part.casefold())


def contains_any(text, parts) -> bool:
    if not isinstance(text, str) or parts is None:
        return False
    folded = text.casefold()
    return any(isinstance(p, str) and p.casefold() in folded for p in parts)


def contains_all(text, parts) -> bool:
    if not isinstance(text, str) or parts is None:
        return False
    folded = text.casefold()
    return all(isinstance(p, str) and p.casefold() in folded for p in parts)


def is_in(value, items) -> bool:
    return value is not None and items is not None and value in items


def has(items, value) -> bool:
    return isinstance(items, (list, tuple, set, frozenset)) and value is not None and value in items


def has_any(items, wanted) -> bool:
    return isinstance(items, (list, tuple, set, frozenset)) and wanted is not None and any(w in items for w in wanted)


def has_all(items, wanted) -> bool:
    return isinstance(items, (list, tuple, set, frozenset)) and wanted is not None and all(w in items for w in wanted)


def compare(op: str, a, b) -> bool:
    if a is None or b is None:
        return False
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    try:
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a >= b
    except TypeError:
        return False


def arith(op: str, kinds: tuple, a, b):
    """Arithmetic with None propagation; times are µs, durations seconds."""
    if a is None or b is None:
        return None
    left, right = kinds
    if left == "time" and right == "duration":
        b = int(round(b * 1_000_000))
    if op == "+":
        return a + b
    if op == "-":
        result = a - b
        return result / 1_000_000 if (left == "time" and right == "time") else result
    if op == "*":
        return a * b
    if b == 0:
        return None
    if op == "/":
        return a / b
    return a % b


def call(name: str, *args):
    if any(a is None for a in args):
        return None
    if name in TEXT_FUNCTIONS:
        return TEXT_FUNCTIONS[name](args[0])
    if name == "len":
        return len(args[0]) if isinstance(args[0], (str, list)) else None
    if name == "lower":
        return args[0].lower()
    if name == "upper":
        return args[0].upper()
    if name == "trim":
        return args[0].strip()
    if name == "abs":
        return abs(args[0])
    if name == "min":
        return min(args)
    return max(args)


def render(value) -> str:
    """How a value reads inside a message or reason."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(render(v) for v in value)
    return str(value)


def plain_number(value):
    """A number as decisions carry it: `3600`, not `3600.0` (durations in seconds, points)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def python_decision(ts: int, policy: str, rule: str, action: str, user, event_id, fields: tuple, reason) -> dict:
    """A decision: the definition. Where output/_decisions was built, `decision` makes the same as a
    record (`DecisionMaker`), which reads as this dict and becomes it wherever decisions leave
    `eval`'s own path (output/decisions.py)."""
    out = {"ts": format_us(ts) or format_ts(ts), "policy": policy, "rule": rule, "action": action}
    if user is not None:
        out["user"] = user
    if event_id is not None:
        out["event_id"] = event_id
    for name, value in fields:
        if value is not None:
            out[name] = value
    if reason is not None:
        out["reason"] = reason
    return out


try:
    from policyengine.output._decisions import DecisionMaker
    decision = DecisionMaker(format_us, format_ts, python_decision)
except ImportError:      # the C module is optional (setup.py)
    decision = python_decision


# ---- member attributes kept by the evaluator's tracker ----------------------------
def member_time(members: dict, user, index: int):
    record = members.get(user)
    return None if record is None else record[index]


def first_message(members: dict, user, event: dict) -> bool:
    record = members.get(user)
    return record is not None and event.get("type") == "message" and record[2] == 1


TRACKER_FIELDS = ("invited_by", "target_user")     # what track_member reads besides type and user


def member_crc(user: str) -> int:
    """The CRC-32 of a member's name that places it among workers (events/_route.c computes the
    same over the line's bytes)."""
    return zlib.crc32(user.encode("utf-8", "surrogatepass"))


def share_of(user, shares: int | bytes) -> int:
    """Which worker runs the rules of `user` (`eval --workers`): of `shares` workers by the CRC-32
    of the name, or by a partition (parallel.balanced_partition), whose byte at that CRC modulo
    its length names the worker."""
    if user.__class__ is not str:
        return 0
    crc = member_crc(user)
    return shares[crc % len(shares)] if shares.__class__ is bytes else crc % shares


class RouteDiverged(Exception):
    """A worker of `eval --workers` was handed a line as one its record takes (events/_route.c),
    and the record refused it: the other workers have moved their clocks by it, so the run is not
    exact and parallel/workers.py runs it again on one worker. Raised by the shared record loop."""


class StopRules(BaseException):
    """A `stop` rule fired inside the record loop (compiler/loop.py): the event's later rules are skipped."""


def track_member(store, event: dict, now: int) -> None:
    """first_seen, joined_at (the last join, else first_seen), messages since joining; who invited whom."""
    members = store.members
    user = event["user"]
    kind = event["type"]
    if kind == "message":
        member_seen(members, user, now)                   # the record loop's own step, in C where built
        return
    record = members.get(user)
    if record is None:
        members[user] = [now, now, 0]
    elif kind == "join":
        record[1] = now
        record[2] = 0
    if kind == "join":
        store.joined[user] = now
        inviter = event.get("invited_by")
        if isinstance(inviter, str) and inviter:
            store.inviters[user] = inviter
    elif kind == "invite":
        invited = event.get("target_user")
        if isinstance(invited, str) and invited:
            store.inviters.setdefault(invited, user)


def in_sample(salt: str, key, percent: float) -> bool:
    """Whether a key falls in a rule's sample: a stable hash of rule and key, the same on every run."""
    if key is None:
        return False
    digest = zlib.crc32(f"{salt}\x00{key!r}".encode())
    return digest % 10_000 < percent * 100


def explain_compare(text: str, left, op: str, right) -> str:
    """`count(message where AD by user within 10m) = 3 ≥ 3`"""
    shown = {">=": "≥", "<=": "≤", "!=": "≠", "==": "="}.get(op, op)
    return f"{text} → {render(left)} {shown} {render(right)}"


def explain_test(text: str, outcome: bool) -> str:
    return f"{text} → {'true' if outcome else 'false'}"

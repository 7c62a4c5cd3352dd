"""One call for the aggregate updates a handler makes on every event of its type, before its rules.

The community pack updates five aggregates on every message — a member's active days, messages in
10 s, all-time messages, copies of a text, repeats of a member's text — and each was a call of its
own from the generated code, its table, kind and width loaded as arguments one by one. `Updates`
holds a handler's tables, kinds and widths and is called with what changes from one event to the
next: the event (to report a failure), its time, and the locals the updates read. It hands back
what each update read, in order, which the handler unpacks into the locals its rules read
(compiler/codegen.py writes the call).

A step is (op, table, key, value, width, index): `key` and `value` are positions in the call's
arguments (event, ts, local, …), `value` -1 for an op that takes none, or for `active_days` the
calendar's function of ts that gives the event's day or week (called here, not by the handler); `width` is a window's width
in µs, or active days' span; `index` the aggregate's, for reporting. The ops are the updates that
hand back a read: `count_window` (helpers.add_count), `count` (helpers.count_up), `repeats` and
`distinct` (aggregates.add_read), `active_days` (incentives.active_days_add_read).

An update that raises is reported as it was when each was a statement of its own — `failed(index,
exc, event)`, R0002 — and the steps after it still run. What it read is FAILED: every use of it in
a rule raises (the rule is skipped and reported, R0001), as using a local never set did.

The C type (runtime/_windows.c) is used where it was built; `PythonUpdates` is its definition,
which the tests hold it to.
"""
from __future__ import annotations

from policyengine.runtime.aggregates import add_read
from policyengine.runtime.helpers import add_count, count_up
from policyengine.runtime.incentives import active_days_add_read

OPS = ("count_window", "count", "repeats", "distinct", "active_days")
_TAKES_VALUE = frozenset({"repeats", "distinct", "active_days"})


class FailedRead:
    """What a rule reads of an aggregate whose update failed on this event: any use raises."""
    __slots__ = ()

    def _refuse(self, *_):
        raise ValueError("this event's update of the count failed (reported as R0002)")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __bool__ = _refuse
    __str__ = __format__ = __int__ = __float__ = __index__ = __neg__ = __abs__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _refuse

    def __repr__(self) -> str:
        return "FAILED"


FAILED = FailedRead()


def checked_steps(steps: tuple) -> tuple:
    """The steps as the C type takes them, or the error it gives."""
    for step in steps:
        if not isinstance(step, tuple) or len(step) != 6:
            raise TypeError("a step is (op, table, key, value, width, index)")
        op, _table, key, value, _width, _index = step
        if op not in OPS:
            raise ValueError(f"no update op {op!r}")
        takes_value = op in _TAKES_VALUE
        if op == "active_days" and not isinstance(value, int) and callable(value):
            value, takes_value = -1, False                # no argument: the day comes from value(ts)
        if not isinstance(value, int):
            raise TypeError("a step's value is a position (or, for active days, a function of ts)")
        if key < 2 or (value < 2 if takes_value else value != -1):
            raise ValueError("a step's key and value are positions past (event, ts); -1 for no value")
    return steps


class PythonUpdates:
    """Updates(steps, failed, failed_read)(event, ts, local, …) → what each step read."""
    __slots__ = ("steps", "failed", "failed_read", "nargs")

    def __init__(self, steps: tuple, failed, failed_read) -> None:
        self.steps = checked_steps(steps)
        self.failed = failed
        self.failed_read = failed_read
        self.nargs = max([2] + [max(s[2], s[3] if isinstance(s[3], int) else -1) + 1 for s in steps])

    def __call__(self, *args) -> tuple:
        if len(args) != self.nargs:
            raise TypeError(f"these updates take {self.nargs} arguments (event, ts, ...), not {len(args)}")
        event, ts = args[0], args[1]
        reads = []
        for op, table, key, value, width, index in self.steps:
            try:
                if op == "count_window":
                    read = add_count(table, args[key], ts, width)
                elif op == "count":
                    read = count_up(table, args[key])
                elif op == "active_days":
                    day = args[value] if isinstance(value, int) else value(ts)
                    read = active_days_add_read(table, args[key], day, width)
                else:
                    read = add_read(table, args[key], op, ts, args[value], width)
            except Exception as exc:        # noqa: BLE001 - reported as the aggregate's failure, as before
                self.failed(index, exc, event)
                read = self.failed_read
            reads.append(read)
        return tuple(reads)


Updates = PythonUpdates
try:                                        # in C where it was built (runtime/_windows.c)
    from policyengine.runtime._windows import Updates  # noqa: F811
except ImportError:                         # pragma: no cover - no C compiler at install
    pass

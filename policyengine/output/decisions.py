"""Decisions as JSON lines, and counted by (policy, rule, action): in C where it was built
(output/_decisions.c), otherwise here. The Python forms are the definitions the C ones are
tested against.

Where the C module is built every decision is a record (`_decisions.Record`: the C giver's, and
helpers.decision's), which reads as the dict it stands for; `eval`'s writer and tally take them
as they are, and `materialize` turns them into dicts wherever else decisions go (the
evaluator's `process` and `advance`, any other writer)."""
from __future__ import annotations

from collections import Counter
from operator import itemgetter

import orjson

DECISION_KEY = itemgetter("policy", "rule", "action")     # what the summary counts a decision by


def python_dump_lines(decisions: list) -> bytes:
    """Each decision as orjson writes it, one a line."""
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    return b"".join([dumps(d, option=newline) for d in decisions])


MERGE_KEY_BYTES = 64
_OFFSET = 1 << 63


def merge_key(tag: tuple) -> bytes:
    """A merge tag of `eval --workers` (four ints within 64 bits, any sign) as 64 hex digits that
    sort as the tag does: the parent merges the workers' spooled lines by them as bytes."""
    event, stage, first, second = tag
    if not all(-_OFFSET <= x < _OFFSET for x in tag):
        raise OverflowError("a merge tag's numbers are ints within 64 bits")
    return b"%016x%016x%016x%016x" % (event + _OFFSET, stage + _OFFSET, first + _OFFSET, second + _OFFSET)


def python_dump_tagged(decisions: list, tags: list) -> bytes:
    """Each decision's line after its tag's merge key: a worker's spool."""
    if len(tags) != len(decisions):
        raise ValueError("dump_tagged takes a tag for each decision")
    return b"".join([merge_key(tag) + python_dump_lines((d,)) for d, tag in zip(decisions, tags)])


class PythonTally:
    """Decisions counted by (policy, rule, action) until drained into a Counter."""

    def __init__(self) -> None:
        self._counts: Counter = Counter()

    def add(self, decisions: list) -> None:
        self._counts.update(map(DECISION_KEY, decisions))       # Counter counts an iterable in C

    def drain(self, counts: dict) -> None:
        for key, n in self._counts.items():
            counts[key] = counts.get(key, 0) + n
        self._counts.clear()


def python_materialize(decisions: list) -> None:
    """Without the C module no decision is a record (the giver and helpers.decision make dicts
    then): nothing to do."""


try:
    from policyengine.output._decisions import Tally, dump_lines, dump_tagged, materialize, merge_spooled
except ImportError:          # the C module is optional (setup.py); the same answers, more slowly
    Tally, dump_lines, dump_tagged, materialize = PythonTally, python_dump_lines, python_dump_tagged, python_materialize
    merge_spooled = None     # parallel.merged merges the workers' spools in Python

"""Decisions byte for byte the same in both versions of a `diff`, set aside before any is parsed.

`diff` matches the k-th decision of an identity in one version with its k-th in the other
(cli/diff_cmd.Comparison), batch by batch. A light edit changes a few decisions in a million, yet
every one was parsed and matched: 1.4 s of a 3 s diff. A line L in batch k of both versions can be
set aside unparsed when

- its key (the identity's first field, `event_id or ts`, and its rule) is the key of no other line
  in either batch, and
- no identity of that key waits unmatched from an earlier batch.

Then L's identity has as many decisions before batch k in one version as in the other (none of it
waits), and L is its one decision in batch k of each: the two Ls are each other's k-th, equal, so
matching them notes nothing, and setting them aside moves no other identity's count. Keys are
read from the bytes only where that is safe: no backslash in the line (every quote then opens or
closes a string, and every string is its value unescaped) and no brace outside a string but the
first (every key is then the object's own). One line of either batch not read so keeps the whole batch pair, since it
might share an identity with a line that is. The keys may collide (C hashes them): a collision
only keeps lines that could have been set aside.

cli/_unchanged.c does the same in C where it was built; tests/test_diff_matching.py holds both to
matching everything.
"""
from __future__ import annotations

import re
from collections import Counter

_FIELDS = {name: re.compile(rb'"' + name + rb'"[ \t\r\n]*:[ \t\r\n]*') for name in (b"ts", b"event_id", b"rule")}


def line_key(line: bytes):
    """(first field, rule) of a decision line as bytes (the rule None when absent or null), or
    None when the line's identity cannot be read from its bytes alone."""
    if len(line) < 2 or line[:1] != b"{" or line[-1:] != b"}" or b"\\" in line:
        return None
    if any(b"{" in outside for outside in line[1:].split(b'"')[::2]):
        return None                                         # a nested object: its keys are not the line's
    values = {}
    for name, pattern in _FIELDS.items():
        hits = list(pattern.finditer(line))
        if len(hits) > 1:
            return None                                     # twice: a parse keeps the last
        if not hits:
            values[name] = None
            continue
        at = hits[0].end()
        if line.startswith(b'"', at):
            values[name] = line[at + 1:line.index(b'"', at + 1)]
        elif line.startswith(b"null", at):
            values[name] = None
        else:
            return None
    first = values[b"event_id"] or values[b"ts"]            # `event_id or ts`: "" and null are false
    if first is None:
        return None
    return first, values[b"rule"]


def key_of(first, rule):
    """The key of an identity with this first field and rule, as line_key reads a line of it."""
    if not isinstance(first, str) or not (rule is None or isinstance(rule, str)):
        return ("not a line's",)
    try:
        return first.encode(), None if rule is None else rule.encode()
    except UnicodeEncodeError:                              # a lone surrogate: no line spells it
        return ("not a line's",)


def unchanged_out(old: list[bytes], new: list[bytes], waiting: dict) -> tuple[list[bytes], list[bytes]]:
    """The two batches without the lines set aside (above); `waiting`: the keys (key_of) of the
    identities that wait unmatched, each with how many do."""
    if not old or not new:
        return old, new
    keys = ([line_key(line) for line in old], [line_key(line) for line in new])
    if None in keys[0] or None in keys[1]:
        return old, new
    counts = Counter(keys[0]), Counter(keys[1])
    new_at = {key: j for j, key in enumerate(keys[1])}
    dropped_old, dropped_new = set(), set()
    for i, key in enumerate(keys[0]):
        if counts[0][key] == 1 and counts[1][key] == 1 and key not in waiting and old[i] == new[new_at[key]]:
            dropped_old.add(i)
            dropped_new.add(new_at[key])
    if not dropped_old:
        return old, new
    return ([line for i, line in enumerate(old) if i not in dropped_old],
            [line for j, line in enumerate(new) if j not in dropped_new])


python_key_of, python_unchanged_out = key_of, unchanged_out
try:
    from policyengine.cli._unchanged import key_of, unchanged_out  # noqa: F811
except ImportError:         # pragma: no cover - the C module is optional (setup.py)
    # In Python the keys cost more than the parses they spare (~3 µs a line against 0.5): every
    # line is parsed and matched, as before.
    def unchanged_out(old: list[bytes], new: list[bytes], waiting: dict) -> tuple[list[bytes], list[bytes]]:
        return old, new

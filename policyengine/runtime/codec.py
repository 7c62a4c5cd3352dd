"""Encode engine state as JSON and back: tuples, sets, deques and windows keep their kind.

JSON rather than pickle: a state file is data, and loading one must never run code.
"""
from __future__ import annotations

from collections import Counter, deque

import orjson

from policyengine.runtime.aggregates import COUNT_TIMES, Window
from policyengine.runtime.store import Column


def plain_encode(value):
    """A value as JSON that keeps its kind. `dumps` writes the same JSON in C where it was built."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"t": [plain_encode(v) for v in value]}
    if isinstance(value, list):
        return [plain_encode(v) for v in value]
    if isinstance(value, COUNT_TIMES):                 # a C count's Times is stored as the deque it stands for
        return {"q": [plain_encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"s": sorted((plain_encode(v) for v in value), key=orjson.dumps)}
    if isinstance(value, Window):
        return {"w": value.kind, "e": [plain_encode(e) for e in value.entries]}
    if isinstance(value, dict):
        return {"d": [[plain_encode(k), plain_encode(v)] for k, v in value.items()]}
    if Column is not None and value.__class__ is Column:   # a member-keyed table: the dict it stands for
        return plain_encode(value.to_dict())
    raise TypeError(f"cannot store a {type(value).__name__}")


def plain_decode(value, inner=None):
    """What orjson read of an encoded value, back to the value; `inner` decodes what it holds
    (itself by default). The definition of `decode`, which takes lists and the tags t, s and d in
    C where it was built."""
    decode = inner or plain_decode
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "t" in value:
        return tuple(decode(v) for v in value["t"])
    if "q" in value:
        return deque(decode(v) for v in value["q"])
    if "s" in value:
        return {decode(v) for v in value["s"]}
    if "w" in value:
        window = Window(value["w"])
        for entry in value["e"]:
            ts, item = decode(entry)
            window.add(ts, item)
        return window
    if "d" in value:
        return {decode(k): decode(v) for k, v in value["d"]}
    raise ValueError(f"unknown encoded value with keys {sorted(value)}")


def plain_dumps(value) -> bytes:
    """A state value as the JSON bytes a state file holds. The definition of `dumps`."""
    return orjson.dumps(plain_encode(value))


# A value as JSON-shaped objects: what `state show` prints of a member's part.
encode = plain_encode

try:
    from policyengine.runtime._codec import decode as _decode_in_c, dumps as _dumps_in_c
except ImportError:         # the C module is optional (setup.py)
    dumps = plain_dumps
    decode = plain_decode
else:
    def dumps(value) -> bytes:
        """`plain_dumps` written in C without the encoded objects between (runtime/_codec.c):
        making and freeing them was most of a checkpoint. Numbers other than 64-bit ints are
        written by orjson, and what C does not take (deques, windows) by `plain_encode`."""
        return _dumps_in_c(value, plain_encode, orjson.dumps)

    def decode(value):
        """`plain_decode` in C for lists, tuples, sets and dicts (runtime/_codec.c): decoding a
        state in Python was half of loading one (0.5 of 1.0 s at 100 000 members). Deques and
        windows go through `plain_decode`, which hands what they hold back here."""
        return _decode_in_c(value, _decode_other)

    def _decode_other(value):
        return plain_decode(value, decode)


def loads(blob: bytes):
    return decode(orjson.loads(blob))


_ATOMS = (int, float, str, bool, type(None))


def _unchanging(value) -> bool:
    return value.__class__ in _ATOMS or (value.__class__ is tuple and all(v.__class__ in _ATOMS for v in value))


def plain_taken(value):
    """What `value` holds now, apart from it — a copy no later change of the value reaches — or
    None: a dict whose values cannot change (atoms, tuples of atoms), a set of such values, such a
    value itself. None for what holds values that change in place (windows, deques, lists, dicts
    of dicts). A bot's checkpoint copies such tables under the engine's lock and writes them after
    it (Engine.checkpoint). The definition of `taken`, in C where it was built."""
    cls = value.__class__
    if _unchanging(value):
        return value
    if cls is set or cls is frozenset:
        if all(map(_unchanging, value)):
            return value if cls is frozenset else set(value)
        return None
    if cls is dict and all(map(_unchanging, value.values())):
        return dict(value)
    return None


def taken(value):
    """`plain_taken`, and a member-keyed column's own copy (Column.taken, runtime/_columns.c)."""
    if Column is not None and value.__class__ is Column:
        return value.taken()
    return _taken(value)


try:
    from policyengine.runtime._codec import taken as _taken
except ImportError:         # the C module is optional (setup.py)
    _taken = plain_taken


__all__ = ["encode", "plain_encode", "decode", "dumps", "plain_dumps", "plain_decode", "loads", "taken",
           "plain_taken", "Counter"]

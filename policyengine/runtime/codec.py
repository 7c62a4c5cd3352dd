"""Encode engine state as JSON and back: tuples, sets, deques and windows keep their kind.

JSON rather than pickle: a state file is data, and loading one must never run code.
"""
from __future__ import annotations

from collections import Counter, deque

import orjson

from policyengine.runtime.aggregates import COUNT_TIMES, Window


def encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, COUNT_TIMES):                 # a C count's Times is stored as the deque it stands for
        return {"q": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"s": sorted((encode(v) for v in value), key=orjson.dumps)}
    if isinstance(value, Window):
        return {"w": value.kind, "e": [encode(e) for e in value.entries]}
    if isinstance(value, dict):
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot store a {type(value).__name__}")


def decode(value):
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


def dumps(value) -> bytes:
    return orjson.dumps(encode(value))


def loads(blob: bytes):
    return decode(orjson.loads(blob))


__all__ = ["encode", "decode", "dumps", "loads", "Counter"]

"""Decode a log line straight into a record holding only the fields the compiled program reads.

The general decoder (decode.py) builds a dict of every field with orjson and then checks
types in Python. For `eval` over logs that is most of the time: on the benchmark log orjson
takes 1.55 µs a line and the checks 0.6 µs more. A msgspec Struct generated from the
program's field set skips the fields no rule reads and checks the types it keeps in C
(0.9 µs a line, checks included).

Lines of the common shape — a flat object of strings, nulls, flags and short integers, any JSON
in fields no rule reads — are read by a scan in C (events/_records.c, fifteenth session: msgspec's
decode had become a sixth of an event's instructions on the community pack) that builds the same
Struct with one call of its type, and can give the event time in the same call (`decode_timed`);
every other line goes to msgspec's decoder, so the record or the error is always msgspec's
(tests/test_native_records.py).

A record is only ever a fast path. Any line it does not take — malformed JSON, a field of
another type than the record expects, a time `parse_ts` refuses — goes to the general
decoder, which accepts it or says why not in the words users know. So the record may be
stricter than the contract (a `text` that is a number on an event type no rule reads is
refused here and accepted there), never looser:
- JSON a record would accept and orjson would not: invalid UTF-8 in a skipped field
  (msgspec does not check skipped strings), so replay checks every line it takes as a record
  (`event_time` in events/_lines.c, else `bytes.decode`); a number past a double's range in a
  skipped field (msgspec skips it, orjson refuses it), so a line msgspec decodes that may hold
  one is parsed by orjson too (`orjson_checked`; the C scan takes no such number).
- Values read as raw JSON (nested objects, fields of no declared type) are decoded by orjson
  when read, so they are exactly the values the general decoder gives.
- Integers outside int64 (orjson reads those past 64 bits as floats): refused where a field is a
  number.
  Inside a list field they stay integers here (the one difference left; lists in policies hold
  role names and tags).
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Annotated, Union

import msgspec
import orjson

from policyengine.check.schema import BUILTIN_EVENTS
from policyengine.events.clock import ASK, ITEM, TAKEN
from policyengine.events.native import event_time

try:
    from policyengine.events._records import RecordDecoder
except ImportError:                                  # pragma: no cover - no C compiler at install
    RecordDecoder = None

CONTRACT = (("type", "name"), ("user", "name"), ("ts", "time"), ("id", "id"))

_Name = Annotated[str, msgspec.Meta(min_length=1)]
# orjson reads integers beyond 64 bits as floats; a record refuses every integer outside int64
# (msgspec's bounds stop there), so the general decoder reads those, and a number is the same
# number on both paths.
_Int = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
_KIND_TYPES = {
    "name": _Name,                          # required, a non-empty string
    "time": Union[str, int, float],         # required; parsed (and range-checked) by the replay loop
    "id": Union[str, None],
    "text": Union[str, None],
    "number": Union[_Int, float, None],     # msgspec, unlike isinstance, does not take true/false as numbers
    "bool": Union[bool, None],
    "list": Union[list, None],
    "raw": msgspec.Raw,                     # any JSON, decoded by orjson when read
}
_REQUIRED = {"name", "time"}


class RecordField(msgspec.Struct, frozen=True):
    name: str          # the JSON key
    attr: str          # the record's attribute: type, user, ts, id, then f4, f5, …
    kind: str          # a key of _KIND_TYPES


def record_fields(kinds: dict[str, str]) -> tuple[RecordField, ...]:
    """The contract fields, then `kinds` (JSON key → kind) in key order, each with an attribute name."""
    merged = dict(CONTRACT)
    for name in sorted(kinds):
        if name not in merged:
            merged[name] = kinds[name]
    # Attributes are the contract's own names or generated ones: generated code reads them, and
    # policy text never becomes code.
    return tuple(RecordField(name, name if i < len(CONTRACT) else f"f{i}", kind)
                 for i, (name, kind) in enumerate(merged.items()))


class EventRecord(msgspec.Struct, gc=False):
    """Base of generated records: read like the event dict by the runtime code that takes either."""

    def get(self, name, default=None):
        attr = self._attrs.get(name)
        if attr is None:
            # Every field generated code or the runtime reads is in the record; a name that is not
            # is a bug in choosing the fields, and must not quietly read as missing.
            raise KeyError(f"event field `{name}` is not in the decoded record")
        value = getattr(self, attr)
        if value.__class__ is msgspec.Raw:
            return orjson.loads(memoryview(value))
        return value if value is not None else default

    def __getitem__(self, name):
        return self.get(name)


@lru_cache(maxsize=16)
def msgspec_record_decoder(fields: tuple[RecordField, ...]):
    """msgspec's `decode(line) → record` for a record type holding `fields`; one type per layout,
    however many logs (or workers) read with it."""
    required, optional = [], []
    for f in fields:
        typ = _KIND_TYPES[f.kind]
        if f.kind in _REQUIRED:
            required.append((f.attr, typ, msgspec.field(name=f.name)))
        else:
            optional.append((f.attr, typ, msgspec.field(default=None, name=f.name)))
    spec = required + optional            # a struct lists fields without defaults first
    record = msgspec.defstruct("Event", spec, bases=(EventRecord,), gc=False,
                               namespace={"_attrs": {f.name: f.attr for f in fields}})
    return msgspec.json.Decoder(record).decode


# What the C scan takes of a record field's value, by the field's kind; the numbers are the K_*
# constants of events/_json_scan.h (K_USER, 1, is routing's own).
SCAN_KINDS = {"name": 0, "time": 2, "id": 3, "text": 3, "number": 4, "bool": 5, "list": 6, "raw": 7}
# Event type names the C scan gives as these str objects, not a new one a line.
_TYPE_NAMES = tuple(sys.intern(name) for name in BUILTIN_EVENTS)
# How the scan makes a field's strings, by JSON key: the event type as one of _TYPE_NAMES (1); a
# member's, a channel's or a community's name — few names, each on many lines — as the str made
# for the same name before (2, events/_records.c: kept_name); others anew (0).
_STRINGS = {"type": 1, "user": 2, "target_user": 2, "channel": 2, "community": 2}


# A number orjson may read past a double's range: an exponent, or 309 digits before any point.
_MAY_OVERFLOW = re.compile(rb"[0-9][eE]|[0-9]{309}")


def orjson_checked(decode):
    """msgspec's decode, refusing also a line with a number past a double's range (`1e999`, an
    integer of 400 digits) in a field no rule reads: msgspec skips it unread, and orjson, the
    general decoder, refuses the line (`number is infinity when parsed as double`), so the record
    path evaluated an event the dict path called a bad line (and `eval --report`, which parsed
    the line with orjson, stopped with an internal error). Only that refusal is taken from
    orjson: any other stays msgspec's to make, as before. Only lines the C scan is not sure of
    come here (it takes no exponent and no number over 40 characters), and only those that may
    hold such a number are parsed twice."""
    loads, may_overflow = orjson.loads, _MAY_OVERFLOW.search

    def checked(line):
        record = decode(line)
        if may_overflow(line):
            try:
                loads(line)
            except orjson.JSONDecodeError as err:
                if str(err).startswith("number is infinity"):
                    raise msgspec.DecodeError(str(err)) from None
        return record
    return checked


def _fallback(fields: tuple[RecordField, ...]):
    """msgspec's decoder for the record type of `fields`, checked by orjson: the lines the C scan
    leaves, or every line where it was not built."""
    return orjson_checked(msgspec_record_decoder(fields))


@lru_cache(maxsize=16)
def _scanner(fields: tuple[RecordField, ...], noting: bool):
    """The C scan (events/_records.c) for the record type of `fields`, msgspec's decoder behind it;
    `noting`: it also notes where each line's type, user, channel and id lay (`noted()`, for the
    report: report/_observe.c)."""
    record_type = msgspec_record_decoder(fields).__self__.type
    order = record_type.__struct_fields__
    spec = tuple((f.name.encode(), SCAN_KINDS[f.kind], order.index(f.attr), _STRINGS.get(f.name, 0)) for f in fields)
    return RecordDecoder(record_type, spec, _fallback(fields), _TYPE_NAMES, noting=noting)


def record_decoder(fields: tuple[RecordField, ...]):
    """`decode(line) → record`: the C scan for the lines of the common shape, msgspec's decoder
    (checked by orjson) for the others and where the scan was not built. Both give the same record."""
    if RecordDecoder is None:                       # pragma: no cover - no C compiler at install
        return _fallback(fields)
    return _scanner(fields, False).decode


def timed_record_decoder(fields: tuple[RecordField, ...], noting: bool = False):
    """`decode(line[, clock]) → (record, time)`: the record and `event_time(record.ts, line)`
    (microseconds, or None where Python must decide) in one call; the record loop's
    (compiler/loop.py). With the loop's clock (events/clock.py) the time is also None for an event
    that came late or has timers due first, which the clock says; a time given back has moved the
    clock's watermark to it. `noting`: see _scanner."""
    if RecordDecoder is not None:
        return _scanner(fields, noting).decode_timed
    return python_timed_decoder(_fallback(fields))   # pragma: no cover - no C compiler at install


def python_timed_decoder(decode):
    """decode_timed as the C decoder's does it, around a record decoder: the definition. With a
    clock, an item that is neither a line (bytes) nor an over-long one (None) — a worker's routed
    item: another share's time, or `(line,)` for every worker to judge (events/routing.py) — is
    no record and no time, the clock's `stop` ITEM: the share's loop tests it only where it tests
    for no time already (compiler/loop.py), not at every own line."""
    def decode_timed(line, clock=None):
        if clock is not None and line is not None and type(line) is not bytes:
            clock.stop = ITEM
            return None, None
        record = decode(line)
        ts = event_time(record.ts, line)
        if clock is not None:
            if ts is None:
                clock.stop = ASK
            elif clock.take(ts) != TAKEN:
                ts = None
        return record, ts
    return decode_timed


RECORD_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)

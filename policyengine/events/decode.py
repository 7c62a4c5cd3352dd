"""Decode one JSON Lines event and check it against the contract and the fields policies read."""
from __future__ import annotations

import orjson

from policyengine.events.timestamps import TimestampError, parse_ts

_PY_TYPES = {"text": (str,), "number": (int, float), "bool": (bool,), "list": (list,)}
_TYPE_WORDS = {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
               dict: "an object", type(None): "null"}


class BadEvent(ValueError):
    """The line is not a valid event; the message says why in the user's terms."""


def describe(value) -> str:
    return _TYPE_WORDS.get(type(value), type(value).__name__)


class EventDecoder:
    """`field_types`: event type → {field: type name} for the fields the loaded policies read."""

    def __init__(self, field_types: dict[str, dict[str, str]] | None = None):
        self.checks = {etype: tuple((f, _PY_TYPES[t], t) for f, t in fields.items() if t in _PY_TYPES)
                       for etype, fields in (field_types or {}).items()}

    def decode(self, line: bytes | str) -> tuple[dict, int]:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise BadEvent(f"invalid JSON: {err.args[0] if err.args else err}") from None
        if event.__class__ is not dict:
            raise BadEvent(f"an event must be a JSON object, found {describe(event)}")
        return event, self.validate(event)

    def validate(self, event: dict) -> int:
        etype = event.get("type")
        if etype.__class__ is not str or not etype:
            raise BadEvent("missing required field `type`" if etype is None
                           else f"`type` must be a non-empty string, found {describe(etype)}")
        user = event.get("user")
        if user.__class__ is not str or not user:
            raise BadEvent("missing required field `user`" if user is None
                           else f"`user` must be a non-empty string, found {describe(user)}")
        if "ts" not in event:
            raise BadEvent("missing required field `ts`")
        try:
            ts = parse_ts(event["ts"])
        except TimestampError as err:
            raise BadEvent(str(err)) from None
        event_id = event.get("id")
        if event_id is not None and event_id.__class__ is not str:
            raise BadEvent(f"`id` must be a string, found {describe(event_id)}")
        for name, types, type_name in self.checks.get(etype, ()):
            value = event.get(name)
            if value is not None and (not isinstance(value, types) or (value.__class__ is bool and type_name == "number")):
                raise BadEvent(f"`{name}` must be {_article(type_name)} on `{etype}` events, found {describe(value)}")
        return ts


def _article(type_name: str) -> str:
    return {"text": "a string", "number": "a number", "bool": "true/false", "list": "a list"}[type_name]

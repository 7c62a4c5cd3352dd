"""What a name can mean at one place in a policy: definitions, word lists, event types."""
from __future__ import annotations

import msgspec

from policyengine import ast
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.schema import Schema
from policyengine.diagnostics import Diagnostic, Span


class ModuleScope(msgspec.Struct):
    """Per file: its definitions. Shared by every expression checked in that file."""
    path: str
    source: str
    schema: Schema
    lets: dict[str, ast.LetDef] = msgspec.field(default_factory=dict)
    words: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    used: set[str] = msgspec.field(default_factory=set)
    random_sites: int = 0
    broken: set[str] = msgspec.field(default_factory=set)
    diagnostics: list[Diagnostic] = msgspec.field(default_factory=list)
    aggregates: dict[str, AggregateSpec] = msgspec.field(default_factory=dict)
    word_files: dict[str, str] = msgspec.field(default_factory=dict)   # file read → digest of its text
    _resolving: list[str] = msgspec.field(default_factory=list)
    _let_cache: dict[tuple, IR] = msgspec.field(default_factory=dict)
    _reported: set[tuple] = msgspec.field(default_factory=set)

    def error(self, code: str, message: str, span: Span | None, label: str = "", help: str = "",
              notes: tuple[str, ...] = ()) -> None:
        key = (code, span, message)
        if key in self._reported:      # a let checked in several places reports once
            return
        self._reported.add(key)
        self.diagnostics.append(Diagnostic(code, message, span, label, help, notes))


    def time_zone(self, tz: str, span: Span | None) -> bool:
        """Whether `tz` is a zone this machine knows; C0216 when not (one check for every place a zone appears)."""
        from policyengine.runtime.periods import valid_time_zone
        if valid_time_zone(tz):
            return True
        self.error("C0216", f"unknown time zone `{tz}`", span, "not an IANA zone",
                   'write a zone such as "Asia/Shanghai", "Europe/Berlin" or "UTC"')
        return False


class Context(msgspec.Struct, frozen=True):
    """Where an expression is checked: which event types its fields are read from."""
    event_types: tuple[str, ...] | None    # None: an unused definition, checked against all types
    where: str                             # "rule `no_ads`", for notes

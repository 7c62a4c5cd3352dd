"""The evaluator: feeds events to the compiled handlers and collects decisions and run-time errors."""
from __future__ import annotations

from dataclasses import dataclass

from policyengine.compiler import CompiledProgram
from policyengine.runtime.store import MemoryStore


@dataclass(frozen=True)
class RuntimeIssue:
    """A rule (or aggregate) that raised on one event; the event's other rules still ran."""
    code: str
    what: str                 # "rule `community/no_ads`" or "aggregate `count(…)`"
    error: str
    event_id: str | None
    location: str | None      # "LOG:LINE" when reading a log

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        event = f" on event `{self.event_id}`" if self.event_id else ""
        return f"{where}error[{self.code}]: {self.what} failed{event}: {self.error}; the rule was skipped for this event"


class Evaluator:
    def __init__(self, compiled: CompiledProgram, store: MemoryStore | None = None):
        self.compiled = compiled
        self.store = store if store is not None else MemoryStore()
        self.issues: list[RuntimeIssue] = []
        self.location: str | None = None
        self.handlers = compiled.bind(self.store, self._rule_failed, self._aggregate_failed)

    def process(self, event: dict, ts: int) -> list[dict]:
        """Decisions for one validated event, in rule order. `ts` is the event time in µs."""
        out: list[dict] = []
        handler = self.handlers.get(event["type"])
        if handler is not None:
            handler(event, ts, out)
        return out

    def _rule_failed(self, index: int, exc: Exception, event: dict) -> None:
        rule = self.compiled.rules[index]
        self.issues.append(RuntimeIssue("R0001", f"rule `{rule.policy}/{rule.name}` ({rule.file}:{rule.line})",
                                        _describe(exc), _event_id(event), self.location))

    def _aggregate_failed(self, index: int, exc: Exception, event: dict) -> None:
        spec = self.compiled.plan.aggregates[index]
        self.issues.append(RuntimeIssue("R0002", f"aggregate `{spec.source}`", _describe(exc),
                                        _event_id(event), self.location))


def _event_id(event: dict):
    value = event.get("id")
    return value if isinstance(value, str) else None


def _describe(exc: Exception) -> str:
    if isinstance(exc, TypeError):
        return f"a value has the wrong type ({exc})"
    return f"{type(exc).__name__}: {exc}"

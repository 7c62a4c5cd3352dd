"""The evaluator: fires due timers, feeds events to the compiled handlers, collects decisions and errors."""
from __future__ import annotations

import msgspec

from policyengine.compiler import CompiledProgram
from policyengine.output.decisions import materialize
from policyengine.runtime.helpers import track_member
from policyengine.runtime.rewards import Rewards
from policyengine.runtime.store import MemoryStore
from policyengine.runtime.timeline import Timeline

_RECORD = object()             # process_record: look the handler up on the record


class RuntimeIssue(msgspec.Struct, frozen=True):
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
    # For a worker of `eval --workers` (parallel.ShareEvaluator): how replay routes a chunk of lines,
    # and (given with it) the chunks it reads, `batches(stream, limit)`, split its own way and each
    # next one's scans made first.
    route_batch = None
    batches = None

    def __init__(self, compiled: CompiledProgram, store: MemoryStore | None = None, lap=None):
        """`lap`: for a program compiled with `profile`, what its rules call as each starts
        (runtime/profile.py)."""
        self.compiled = compiled
        self.store = store if store is not None else MemoryStore()
        self.issues: list[RuntimeIssue] = []
        self.late_events = 0
        program = compiled.plan.program
        self.timeline = Timeline(self.store, program.ladders, program.scores)
        self.rewards = Rewards(self.store, program, self.timeline)
        self.timeline.rewards = self.rewards
        built = compiled.bind(self.store, self.timeline, self.rewards, self._rule_failed, self._aggregate_failed, lap)
        self.has_periods = bool(program.everies)
        self.has_roles = bool(program.roles)
        if self.has_periods and self.store.events_seen and self.store.watermark is not None:
            self.rewards.start(self.store.watermark)    # periods a changed policy added since the last run
        self.handlers = built["handlers"]
        self.record_handlers = built.get("record_handlers")    # None: the program takes dicts only
        # process_record, the handlers and replay's loop in one function (compiler/loop.py).
        self.record_loop = built.get("record_loop")
        self.share_loop = built.get("share_loop")     # the same for a worker of `eval --workers`
        self.track_members = compiled.plan.track_members
        self.widths = {a.fingerprint: a.window_us for a in compiled.plan.aggregates if a.window_us is not None}

    def process(self, event: dict, ts: int) -> list[dict]:
        """Decisions for one validated event (time `ts` in µs): first those of timers now due, then
        the event's own in rule order. An event older than the latest one is evaluated at the latest
        time, so windows and timers never run backwards."""
        # The base body by name: a subclass's own process_record (parallel.ShareEvaluator) wraps it.
        return Evaluator.process_record(self, event, ts, self.handlers.get(event["type"]), event["user"])

    def process_record(self, record, ts: int, handler=_RECORD, user=None) -> list[dict]:
        """`process` for an event decoded into a record (events/records.py), the hot path of `eval`;
        `process` passes a dict event with its handler. One body for both: a shared body behind two
        wrappers cost 2 % more instructions an event."""
        if handler is _RECORD:
            handler, user = self.record_handlers.get(record.type), record.user
        out: list[dict] = []
        store = self.store
        watermark = store.watermark
        if watermark is None or ts > watermark:
            store.watermark = watermark = ts
        elif ts < watermark:
            self.late_events += 1
            ts = watermark
        if store.timers and store.timers[0][0] <= ts:
            self.timeline.fire_until(ts, out)
        store.events_seen += 1
        if self.has_periods and store.events_seen == 1:
            self.rewards.start(ts)
        if self.track_members:
            track_member(store, record, ts)
        if handler is not None:
            handler(record, ts, out)
        if self.has_roles:
            self.rewards.check_roles(user, record, ts, out)
        if store.events_seen >= store.next_sweep:
            store.sweep(ts, self.widths)
        materialize(out)                # dicts for every caller (output/decisions.py)
        return out

    def advance(self, until: int, keys: list | None = None) -> list[dict]:
        """Declare the log covers time up to `until`: fire the timers due by then (with `keys`, as
        in Timeline.fire_until)."""
        out: list[dict] = []
        if self.store.watermark is None or until > self.store.watermark:
            self.store.watermark = until
        self.timeline.fire_until(until, out, keys)
        materialize(out)
        return out

    def _rule_failed(self, index, exc: Exception, event: dict) -> None:
        if index is None:
            what = "a ladder or score step"
        else:
            rule = self.compiled.rules[index]
            what = f"rule `{rule.policy}/{rule.name}` ({rule.file}:{rule.line})"
        self.issues.append(RuntimeIssue("R0001", what, _describe(exc), _event_id(event), None))

    def _aggregate_failed(self, index: int, exc: Exception, event: dict) -> None:
        spec = self.compiled.plan.aggregates[index]
        self.issues.append(RuntimeIssue("R0002", f"aggregate `{spec.source}`", _describe(exc),
                                        _event_id(event), None))


def _event_id(event: dict):
    value = event.get("id")
    return value if isinstance(value, str) else None


def _describe(exc: Exception) -> str:
    if isinstance(exc, TypeError):
        return f"a value has the wrong type ({exc})"
    return f"{type(exc).__name__}: {exc}"

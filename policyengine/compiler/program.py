"""The compiled program: generated source, its code object, and how to bind it to a state store."""
from __future__ import annotations

import sys
from typing import Callable

import msgspec

from policyengine.check import CheckedProgram, CheckedRule
from policyengine.compiler.codegen import generate
from policyengine.compiler.plan import Plan, by_member, lower
from policyengine.runtime import aggregates, helpers, incentives, updates
from policyengine.runtime.store import MemoryStore

GENERATED_FILENAME = "<policyengine generated>"


class CompiledProgram(msgspec.Struct, frozen=True):
    source: str
    code: object
    pool: tuple
    plan: Plan
    record: tuple | None = None      # fields of the decoded record the `record_handlers` take, if any

    @property
    def rules(self) -> tuple[CheckedRule, ...]:
        return self.plan.rules

    def bind(self, store: MemoryStore, timeline, rewards, on_rule_error: Callable, on_aggregate_error: Callable,
             lap: Callable | None = None) -> dict:
        """The generated functions, closed over the store's tables: {'handlers': {event type: fn}, …}.
        `lap`: what a program compiled with `profile` calls as each rule starts (runtime/profile.py)."""
        tables = {
            "store": store,
            "members": store.members,
            "labels": store.label_table(),
            "aggregates": [store.count_table(a.fingerprint, by_member(a.keys)) if a.window_us is None
                           else store.window_table(a.fingerprint, by_member(a.keys)) for a in self.plan.aggregates],
            "once": [store.once_table(_rule_id(r), by_member(r.once_keys or ())) for r in self.plan.rules],
            "cooldown": [store.cooldown_table(_rule_id(r), by_member(r.cooldown_keys or ())) for r in self.plan.rules],
        }
        namespace: dict = {}
        exec(self.code, namespace)
        runtime = _Callbacks(timeline, rewards, on_rule_error, on_aggregate_error, lap or _no_lap)
        # Interned, the program's strings are written from their encoded form (output/_decisions.c).
        pool = tuple(sys.intern(v) if v.__class__ is str else v for v in self.pool)
        built = namespace["build"](pool, tables, helpers, _AggregateHelpers, runtime)
        timeline.absence_handlers.update(built["absence"])
        timeline.ladder_steps.update(built["ladders"])
        timeline.score_steps.update(built["scores"])
        rewards.level_steps.update(built["levels"])
        rewards.award_steps.update(built["awards"])
        rewards.role_values.update(built["roles"])
        return built


def _rule_id(rule: CheckedRule) -> str:
    return f"{rule.policy}/{rule.name}"


def _no_lap(section: int) -> None:
    """A profiled program's laps where no profiler was given: its rules still run as they are."""


class _Callbacks(msgspec.Struct, frozen=True):
    timeline: object
    rewards: object
    rule_failed: Callable
    aggregate_failed: Callable
    lap: Callable


def compile_program(program: CheckedProgram, explain: bool = False, profile: bool = False) -> CompiledProgram:
    """Only a CheckedProgram compiles: holding one proves checking passed. `explain` compiles a
    variant whose decisions say why, `profile` one whose rules each tell a profiler they start
    (bound with `lap`); the default variant carries no trace of either."""
    if not isinstance(program, CheckedProgram):
        raise TypeError("compile_program takes the CheckedProgram that check_program returns")
    plan = lower(program)
    source, pool, tables = generate(plan, explain, profile)
    code = compile(source, GENERATED_FILENAME, "exec")
    return CompiledProgram(source, code, tuple(pool.values), plan, tables.record)


class _AggregateHelpers:
    """The aggregate and incentive helpers the generated code binds as `_agg.NAME`."""


for _module in (aggregates, incentives):
    for _name in dir(_module):
        if not _name.startswith("_"):
            setattr(_AggregateHelpers, _name, staticmethod(getattr(_module, _name)))
_AggregateHelpers.Updates = staticmethod(updates.Updates)
_AggregateHelpers.FAILED = updates.FAILED

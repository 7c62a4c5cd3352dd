"""Lower a checked program to a plan: which aggregates and rules run for each event type, in order.

Rules run by priority (higher first), then in load order (files sorted by path, then
position in the file). Aggregates are updated before any rule of the event runs, so a
count includes the current event when it matches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from policyengine.check import CheckedProgram, CheckedRule
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.schema import BOOL, LIST, NUMBER, TEXT


@dataclass
class Handler:
    event_type: str
    aggregates: list[tuple[int, AggregateSpec]] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)


@dataclass
class Plan:
    rules: tuple[CheckedRule, ...]
    aggregates: list[AggregateSpec]
    aggregate_index: dict[str, int]
    handlers: list[Handler]
    field_types: dict[str, dict[str, str]]      # event type → field → type, for input validation


def lower(program: CheckedProgram) -> Plan:
    aggregates = [program.aggregates[fp] for fp in sorted(program.aggregates)]
    index = {a.fingerprint: i for i, a in enumerate(aggregates)}
    handlers: dict[str, Handler] = {}
    for i, spec in enumerate(aggregates):
        for etype in spec.event_types:
            handlers.setdefault(etype, Handler(etype)).aggregates.append((i, spec))
    for i, rule in enumerate(program.rules):
        for etype in rule.event_types:
            handlers.setdefault(etype, Handler(etype)).rules.append(i)
    field_types: dict[str, dict[str, str]] = {}
    for rule in program.rules:
        for node in _rule_nodes(rule):
            _note_field(node, rule.event_types, program, field_types)
    for spec in aggregates:
        for node in _spec_nodes(spec):
            _note_field(node, spec.event_types, program, field_types)
    ordered = [handlers[t] for t in sorted(handlers)]
    return Plan(program.rules, aggregates, index, ordered, field_types)


def _rule_nodes(rule: CheckedRule):
    roots: list[IR] = [] if rule.condition is None else [rule.condition]
    roots += list(rule.once_keys or ()) + list(rule.cooldown_keys)
    for action in rule.actions:
        for value in action.args.values():
            roots += [value] if isinstance(value, IR) else [p for p in value if isinstance(p, IR)]
    if rule.reason:
        roots += [p for p in rule.reason if isinstance(p, IR)]
    for root in roots:
        for node in root.walk():
            yield node
            if node.op == "agg":
                yield from _spec_nodes(node.value)


def _spec_nodes(spec: AggregateSpec):
    if spec.filter is not None:
        yield from spec.filter.walk()


def _note_field(node: IR, event_types, program: CheckedProgram, out: dict) -> None:
    if node.op != "field" or len(node.value) != 1 or node.type not in (TEXT, NUMBER, BOOL, LIST):
        return
    name = node.value[0]
    for etype in event_types:
        declared = program.schema.events.get(etype, {}).get(name)
        if declared == node.type:
            out.setdefault(etype, {})[name] = declared

"""Lower a checked program to a plan: which aggregates, timers and rules run for each event type, in order.

Rules run by priority (higher first), then in load order (files sorted by path, then
position in the file). Aggregates are updated before any rule of the event runs, so a
count includes the current event when it matches. Absence timers are (re)armed and
cancelled after the aggregates, before the rules.
"""
from __future__ import annotations

import msgspec

from policyengine.check import CheckedProgram, CheckedRule
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.schema import BOOL, LIST, NUMBER, TEXT, TRACKED_ATTRIBUTES


class Handler(msgspec.Struct):
    event_type: str
    aggregates: list[tuple[int, AggregateSpec]] = msgspec.field(default_factory=list)
    arm: list[int] = msgspec.field(default_factory=list)        # absence rules this event (re)starts
    disarm: list[int] = msgspec.field(default_factory=list)     # absence rules (with `since`) this event ends
    rules: list[int] = msgspec.field(default_factory=list)
    boards: list[tuple] = msgspec.field(default_factory=list)  # (every index, award index, spec) counted here


class Plan(msgspec.Struct):
    rules: tuple[CheckedRule, ...]
    aggregates: list[AggregateSpec]
    aggregate_index: dict[str, int]
    handlers: list[Handler]
    absence_rules: list[int]
    field_types: dict[str, dict[str, str]]      # event type → field → type, for input validation
    track_members: bool                          # some rule reads first_seen / joined_at / account_age / first_message
    program: CheckedProgram


def updates_section(handler: Handler) -> tuple[str, str]:
    """The profile's row (name, kind) for a handler's own work: its counts, windows and silences."""
    return f"`on {handler.event_type}` counts, windows and silences", "handler"


def guards_section(handler: Handler) -> tuple[str, str]:
    """The profile's row for the word tests that skip runs of a handler's rules (codegen: _guarded):
    one test a run of rules needing words of one field, timed on its own rather than in the rule
    before it."""
    return f"`on {handler.event_type}` word tests before its rules", "handler"


def lapped_sections(plan: Plan) -> list[tuple[str, str]]:
    """The rows (name, kind) a program compiled with `profile` laps by number, `LAP(n)` lapping
    row n: each rule, then each handler's updates, then each handler's word tests. The code
    generator numbers its laps and the profiler names its rows from this one list."""
    rules = [(f"{rule.policy}/{rule.name}", "rule") for rule in plan.rules]
    return (rules + [updates_section(handler) for handler in plan.handlers]
            + [guards_section(handler) for handler in plan.handlers])


def lower(program: CheckedProgram) -> Plan:
    aggregates = [program.aggregates[fp] for fp in sorted(program.aggregates)]
    index = {a.fingerprint: i for i, a in enumerate(aggregates)}
    handlers: dict[str, Handler] = {}

    def handler(etype: str) -> Handler:
        return handlers.setdefault(etype, Handler(etype))

    board_specs = {a.metric.spec.fingerprint for e in program.everies for a in e.awards if a.metric.spec}
    for i, spec in enumerate(aggregates):
        if spec.fingerprint in board_specs:
            continue                       # a leaderboard metric: counted per period below, not kept
        for etype in spec.event_types:
            handler(etype).aggregates.append((i, spec))
    for i, every in enumerate(program.everies):
        for j, award in enumerate(every.awards):
            if award.metric.spec is not None:
                for etype in award.metric.spec.event_types:
                    handler(etype).boards.append((i, j, award.metric.spec))
    absence_rules = []
    for i, rule in enumerate(program.rules):
        if rule.absence is not None:
            absence_rules.append(i)
            spec = rule.absence
            if spec.since_types:
                for etype in spec.since_types:
                    handler(etype).arm.append(i)
                for etype in spec.event_types:
                    handler(etype).disarm.append(i)
            else:
                for etype in spec.event_types:
                    handler(etype).arm.append(i)
            continue
        for etype in rule.event_types:
            handler(etype).rules.append(i)
    field_types: dict[str, dict[str, str]] = {}
    track = False
    for rule in program.rules:
        types = rule.event_types
        for node in rule_nodes(rule):
            _note_field(node, types, program, field_types)
            track = track or (node.op == "member" and node.value in TRACKED_ATTRIBUTES)
    for spec in aggregates:
        for node in spec_nodes(spec):
            _note_field(node, spec.event_types, program, field_types)
            track = track or (node.op == "member" and node.value in TRACKED_ATTRIBUTES)
    # `among newcomers` reads the joins the tracker records; roles and other awards need nothing.
    track = track or any(a.among == "newcomers" for e in program.everies for a in e.awards)
    ordered = [handlers[t] for t in sorted(handlers)]
    return Plan(program.rules, aggregates, index, ordered, absence_rules, field_types, track, program)


def by_member(keys) -> bool:
    """Keys that are the event's member alone (`by user`, `per user`): the store keeps such
    tables as columns of its member index (runtime/_columns.c)."""
    return len(keys) == 1 and keys[0].op == "field" and keys[0].value == ("user",)


def rule_nodes(rule: CheckedRule):
    roots: list[IR] = [] if rule.condition is None else [rule.condition]
    roots += list(rule.once_keys or ()) + list(rule.cooldown_keys) + action_roots(rule.actions)
    if rule.reason:
        roots += [p for p in rule.reason if isinstance(p, IR)]
    if rule.member is not None:
        roots.append(rule.member)
    yield from nodes_of(roots)


def action_roots(actions) -> list[IR]:
    """The expressions in actions' arguments: values, and the parts of templates."""
    roots: list[IR] = []
    for action in actions:
        for value in action.args.values():
            if isinstance(value, IR):
                roots.append(value)
            elif isinstance(value, tuple):
                roots += [p for p in value if isinstance(p, IR)]
    return roots


def nodes_of(roots):
    """Every node of the expressions, and of the aggregates they read."""
    for root in roots:
        for node in root.walk():
            yield node
            if node.op == "agg":
                yield from spec_nodes(node.value)


def spec_nodes(spec: AggregateSpec):
    for root in (spec.filter, spec.of, *spec.keys):
        if root is not None:
            yield from root.walk()


def _note_field(node: IR, event_types, program: CheckedProgram, out: dict) -> None:
    if node.op != "field" or len(node.value) != 1 or node.type not in (TEXT, NUMBER, BOOL, LIST):
        return
    name = node.value[0]
    for etype in event_types:
        declared = program.schema.events.get(etype, {}).get(name)
        if declared == node.type:
            out.setdefault(etype, {})[name] = declared

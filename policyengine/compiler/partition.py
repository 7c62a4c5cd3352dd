"""Can the log be split by member for `eval --workers N`? Only if every piece of state a program
keeps belongs to the event's own `user`.

Then a member's decisions depend only on that member's events and on event time, and one
worker per share of members gives exactly the decisions of one worker for all. Anything
kept across members — a count by channel or by text, a leaderboard, points to an inviter,
a rule `once` for everyone — needs every member's events in one place, so such a program
runs on one worker, and `blocker` says which construct keeps it there.
"""
from __future__ import annotations

import msgspec

from policyengine.check import CheckedProgram
from policyengine.check.ir import IR
from policyengine.check.schema import TRACKED_ATTRIBUTES
from policyengine.compiler.plan import action_roots, nodes_of, rule_nodes, spec_nodes
from policyengine.runtime.incentives import PLACE_BITS


class Blocker(msgspec.Struct, frozen=True):
    what: str            # the construct, in the words of the language
    file: str = ""       # the construct's file and line, where the program knows them
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""


def _is_user(ir: IR) -> bool:
    return ir.op == "field" and tuple(ir.value) == ("user",)


def _member_keyed(keys) -> bool:
    return len(keys) >= 1 and _is_user(keys[0])


def blocker(program: CheckedProgram) -> Blocker | None:
    """The first construct that keeps state across members, or None when the program splits by member."""
    return next(_blockers(program), None)


def blockers(program: CheckedProgram) -> list[Blocker]:
    """Every construct that keeps state across members, each once, in the order `blocker` meets
    them: all that must go for the program to split (`check --workers` lists them)."""
    return list(dict.fromkeys(_blockers(program)))


def _blockers(program: CheckedProgram):
    for every in program.everies:
        why = _every_blocker(every)
        if why:
            yield Blocker(f"`every {every.period}` {why}", every.file, every.line)
    seen_specs = set()           # aggregates a rule's blocker already named, where it is used
    for rule in program.rules:
        name = f"rule `{rule.name}`"

        def at(what: str) -> Blocker:
            return Blocker(what, rule.file, rule.line)
        if rule.member is not None and not _is_user(rule.member):
            yield at(f"{name} acts on a member other than the event's user")
        if rule.once_keys is not None and not _member_keyed(rule.once_keys):
            yield at(f"{name} fires `once` across members")
        if rule.cooldown_us is not None and not _member_keyed(rule.cooldown_keys):
            yield at(f"{name} has a cooldown across members")
        if rule.absence is not None and not (_member_keyed(rule.absence.keys)
                                             and (not rule.absence.since_types or _member_keyed(rule.absence.since_keys))):
            yield at(f"{name} watches silence across members")
        for node in rule_nodes(rule):
            found = _node_blocker(node)
            if found:
                if node.op == "agg":
                    seen_specs.add(node.value.source)
                yield at(f"{name}: {found}")
    for spec in program.aggregates.values():
        if not _member_keyed(spec.keys):
            if spec.source not in seen_specs:
                yield Blocker(f"`{spec.source}` is kept across members (not `by user`)")
            continue
        for node in spec_nodes(spec):
            found = _node_blocker(node)
            if found:
                yield Blocker(f"`{spec.source}`: {found}")


def _every_blocker(every) -> str | None:
    """Why a leaderboard keeps the program on one worker, or None. Workers rank one board made of
    their parts at each close (parallel.ShareEvaluator), which is exact when each member's score
    is kept by the member's own worker — points they earned, counts and sums `by user` — and
    the merge can place every award's decisions (incentives.award_place)."""
    if len(every.awards) > 1 << PLACE_BITS:
        return f"has more than {1 << PLACE_BITS} awards"
    for award in every.awards:
        spec = award.metric.spec
        if award.top > 1 << PLACE_BITS:
            return f"ranks a top {award.top}: over {1 << PLACE_BITS}, its decisions cannot be merged in order"
        if spec is not None and not (len(spec.keys) == 1 and _is_user(spec.keys[0])):
            return f"ranks `{spec.source}`, a score counted where its events are, not by the member's worker"
        nodes = list(spec_nodes(spec)) if spec is not None else []
        for node in nodes + list(nodes_of(action_roots(award.actions))):
            found = _node_blocker(node)
            if found:
                return f"ranks all members together: {found}"
    return None


def _node_blocker(node: IR) -> str | None:
    if node.op == "agg" and not _member_keyed(node.value.keys):
        return f"`{node.value.source}` is kept across members (not `by user`)"
    if node.op in ("member", "balance") and node.args and not _is_user(node.args[0]):
        return "reads another member's state"
    if node.op in ("has_label", "labels") and node.args and not _is_user(node.args[0]):
        return "reads another member's labels"
    if node.op == "member" and node.value in TRACKED_ATTRIBUTES:
        return f"`user.{node.value}` reads the member tracker, which follows invites across members"
    return None

"""Check the incentive items: `points` currencies, `levels`, `every` period awards and `role`s."""
from __future__ import annotations

from typing import Callable

import msgspec

from policyengine import ast
from policyengine.check.expressions import ERROR
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.schema import NUMBER, OFFENSE_CONTEXT
from policyengine.check.scope import Context

PERIODS = {"day", "week", "month"}


class CheckedCurrency(msgspec.Struct, frozen=True):
    name: str
    cap: int | float | None
    cap_period: str | None
    cap_exempt: frozenset
    floor: int | float | None
    decay_per_us: float
    tz: str


class CheckedLevels(msgspec.Struct, frozen=True):
    policy: str
    name: str
    currency: str
    mode: str                                  # replace | stack
    entries: tuple                             # (threshold, name, actions)
    formula: Callable | None
    formula_name: str | None

    def roles(self, index: int) -> tuple[str, ...]:
        """Roles the level's `promote(…)` actions give."""
        if self.formula is not None:
            return ()
        return tuple(a.args["role"].value for a in self.entries[index][2]
                     if a.name == "promote" and isinstance(a.args.get("role"), IR) and a.args["role"].op == "const")


class BoardMetric(msgspec.Struct, frozen=True):
    """What a leaderboard ranks: points earned in the period, or a count / sum of events."""
    currency: str | None
    spec: AggregateSpec | None                  # event types, filter, key (whose score), `of` (sum)


class CheckedAward(msgspec.Struct, frozen=True):
    top: int
    metric: BoardMetric
    among: str | None                          # `newcomers`, or a label members must carry
    actions: tuple


class CheckedEvery(msgspec.Struct, frozen=True):
    policy: str
    period: str
    tz: str
    awards: tuple[CheckedAward, ...]
    file: str = ""                             # where the `every` block is (compiler/partition.py names it)
    line: int = 0


class CheckedRole(msgspec.Struct, frozen=True):
    policy: str
    role: str
    requirements: tuple                        # (IR of the value for the member, op, threshold, text)
    keep: float                                # demote below keep × threshold
    grace_us: int
    title: str | None


def check_points(unit, item: ast.PointsDef) -> CheckedCurrency | None:
    scope = unit.scope
    if item.cap_period is not None and item.cap_period not in PERIODS:
        scope.error("C0217", f"unknown period `{item.cap_period}`", item.cap_period_span, "not a period",
                    "caps are per `day`, `week` or `month`")
        return None
    tz = item.tz or "UTC"
    if not scope.time_zone(tz, item.tz_span):
        return None
    decay = (item.decay / (item.decay_per.seconds * 1_000_000)) if item.decay_per else 0.0
    return CheckedCurrency(item.name, item.cap, item.cap_period, frozenset(n for n, _ in item.cap_exempt),
                           item.floor, decay, tz)


def check_levels(unit, item: ast.LevelsDef, check_steps) -> CheckedLevels | None:
    scope = unit.scope
    mode = item.mode or "stack"
    if mode not in ("stack", "replace"):
        scope.error("C0218", f"unknown level mode `{mode}`", item.mode_span, "not a mode",
                    "write `replace` (a new level's role replaces the last one) or `stack` (roles add up)")
        return None
    formula = None
    entries: list = []
    if item.formula is not None:
        formula = _formula(unit, item.formula)
        if formula is None:
            return None
    else:
        last = None
        for entry in item.entries:
            if last is not None and entry.threshold <= last:
                scope.error("C0219", "level thresholds must rise", entry.span, "not above the one before",
                            "list levels from the lowest threshold to the highest")
                return None
            last = entry.threshold
            actions = check_steps(entry.actions, f"level `{entry.name}`")
            entries.append((entry.threshold, entry.name, actions))
        if not entries:
            scope.error("C0505", "a `levels` table needs at least one level", item.span, "empty",
                        'write e.g. `levels by points { 0 "新人"  100 "活跃成员" }`')
            return None
    return CheckedLevels(unit.policy, item.name or "levels", item.currency, mode, tuple(entries), formula,
                         item.formula_name)


def _formula(unit, node) -> LevelFormula | None:
    """`5 * L * L + 50 * L + 100`: points needed to go from level L to L + 1. Only L, numbers and + - * /."""
    def allowed(n) -> bool:
        if isinstance(n, ast.Literal) and n.kind == "number" or isinstance(n, ast.Path) and n.parts == ("L",):
            return True
        if isinstance(n, ast.Negate):
            return allowed(n.operand)
        if isinstance(n, ast.Arith) and n.op in "+-*/":
            return allowed(n.left) and allowed(n.right)
        unit.scope.error("C0220", "a level formula uses only `L`, numbers and + - * /", n.span, "not allowed here",
                         "write e.g. `formula 5 * L * L + 50 * L + 100` (points from level L to L + 1)")
        return False
    return LevelFormula(node) if allowed(node) else None


class LevelFormula(msgspec.Struct, frozen=True):
    """A checked level formula, called with L. Kept as its syntax tree rather than as a function
    made while checking, so a compiled program pickles (compiler/cache.py)."""
    node: object

    def __call__(self, level):
        return _formula_value(self.node, level)


def _formula_value(n, level):
    if isinstance(n, ast.Literal):
        return n.value
    if isinstance(n, ast.Path):
        return level
    if isinstance(n, ast.Negate):
        return -_formula_value(n.operand, level)
    a, b = _formula_value(n.left, level), _formula_value(n.right, level)
    op = n.op
    return a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / (b or 1)


def check_every(unit, item: ast.EveryDef, check_steps) -> CheckedEvery | None:
    scope, checker = unit.scope, unit.checker
    if item.period not in PERIODS:
        scope.error("C0217", f"unknown period `{item.period}`", item.period_span, "not a period",
                    "write `every day`, `every week` or `every month`")
        return None
    tz = item.tz or "UTC"
    if not scope.time_zone(tz, item.period_span):
        return None
    awards = []
    for award in item.awards:
        metric = BoardMetric(award.currency or "points", None)
        if award.metric is not None:
            agg = award.metric
            if agg.function not in ("count", "sum") or any(o.kind not in ("by",) for o in agg.query.options):
                scope.error("C0221", "a leaderboard ranks `points`, `count(…)` or `sum(… of …)` over the period",
                            agg.span, "not a period metric",
                            "write e.g. `top 3 by count(message)` or `top 3 by count(reaction by target_user)`")
                continue
            kept = set(scope.aggregates)
            ir = checker.check(agg, Context(None, "a leaderboard"))
            if ir is ERROR:
                continue
            spec = ir.value
            # Checking the metric kept it as written, an all-time count (or sum) nobody reads: the
            # board counts it per period under its own spec, keyed by member (program.py adds it).
            if spec.fingerprint not in kept:
                scope.aggregates.pop(spec.fingerprint, None)
            if len(spec.keys) > 1:
                scope.error("C0221", "a leaderboard ranks members: at most one `by` key", agg.span,
                            "several keys", "write `by user` (the default) or `by target_user`")
                continue
            if not spec.keys:
                spec = AggregateSpec(spec.function, spec.event_types, spec.filter,
                                     (IR("field", "text", value=("user",)),), None, spec.of, source=spec.source)
            metric = BoardMetric(None, spec)
        among = award.among[0] if award.among else None
        actions = check_steps(award.actions, "a period award")
        awards.append(CheckedAward(award.top, metric, among, actions))
    return CheckedEvery(unit.policy, item.period, tz, tuple(awards), unit.module.path, item.span.line)


def check_role(unit, item: ast.RoleDef) -> CheckedRole | None:
    scope, checker = unit.scope, unit.checker
    requirements = []
    for req in item.requires:
        if not (isinstance(req, ast.Compare) and req.op in (">=", ">") and isinstance(req.right, ast.Literal)
                and req.right.kind == "number"):
            scope.error("C0222", "a requirement is `VALUE >= NUMBER`", req.span, "not a requirement",
                        "write e.g. `requires count(message by user within 100d) >= 50`; each becomes a "
                        "promotion bar and, with `keep above 90%`, a demotion bar")
            continue
        value = checker.check(req.left, Context((OFFENSE_CONTEXT,), f"role `{item.role}`"))
        if value is ERROR:
            continue
        if value.type != NUMBER or not (value.op in ("agg", "balance") and len(value.args) <= 2):
            scope.error("C0222", "a requirement measures the member: an aggregate by one key, or `points()`",
                        req.left.span, "not about the member",
                        "write e.g. `count(message by user within 100d)` or `distinct(user of reaction by target_user)`")
            continue
        requirements.append((value, req.op, req.right.value, req.span))
    if not requirements and item.requires:
        return None                            # each bad requirement was reported already
    if not requirements:
        scope.error("C0505", f"role `{item.role}` has no requirements", item.role_span, "nothing to require",
                    "add `requires count(message by user within 100d) >= 50`")
        return None
    keep = (item.keep_percent / 100) if item.keep_percent is not None else 1.0
    grace = int(round(item.grace.seconds * 1_000_000)) if item.grace else 0
    return CheckedRole(unit.policy, item.role, tuple(requirements), keep, grace, item.title)

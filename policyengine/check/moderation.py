"""Check the moderation-over-time items: `absence(…)` triggers, offense ladders and decaying scores."""
from __future__ import annotations

import msgspec

from policyengine import ast
from policyengine.check.expressions import ERROR
from policyengine.check.ir import IR
from policyengine.check.schema import BOOL, NUMBER, OFFENSE_CONTEXT
from policyengine.check.scope import Context


class AbsenceSpec(msgspec.Struct, frozen=True):
    """`absence(message [where …] by user for 14d [since join])`."""
    event_types: tuple[str, ...]           # events that end (and, without `since`, start) a silence
    filter: IR | None
    keys: tuple[IR, ...]
    key_names: tuple[str, ...]
    window_us: int
    since_types: tuple[str, ...]           # events that start a silence; () → the event types above
    since_keys: tuple[IR, ...]


class CheckedLadder(msgspec.Struct, frozen=True):
    policy: str
    name: str
    categories: tuple[str, ...]            # () → every category
    window_us: int
    steps: tuple[tuple[int, bool, tuple], ...]    # (n, "n+", actions)


class CheckedScore(msgspec.Struct, frozen=True):
    policy: str
    name: str
    categories: tuple[str, ...]
    weights: dict[str, float]
    decay_per_us: float
    steps: tuple[tuple[int, bool, tuple], ...]

    @property
    def thresholds(self) -> tuple[int, ...]:
        return tuple(n for n, _, _ in self.steps)



def check_absence(unit, rule: ast.Rule) -> AbsenceSpec | None:
    scope, checker, q = unit.scope, unit.checker, rule.trigger.absence
    types = checker.event_types(q.event_types)
    if types is None:
        return None
    inner = Context(types, f"rule `{rule.name}`")
    filt = checker.expect(q.where, inner, BOOL, "a `where` condition") if q.where is not None else None
    keys, names, window, since_types, since_keys = [], [], None, (), []
    by = [o for o in q.options if o.kind == "by"]
    key_nodes = by[0].keys if by else (ast.Path(q.span, ("user",)),)
    for opt in q.options:
        if opt.kind == "for":
            window = int(round(opt.duration.seconds * 1_000_000))
        elif opt.kind == "since":
            since_types = checker.event_types(opt.event_types) or ()
        elif opt.kind != "by":
            scope.error("C0211", f"`{opt.kind}` does not apply to `absence`", opt.span, "not used by absence",
                        "`absence` takes `where …`, `by …`, `for DURATION` and `since EVENT`")
    for k in key_nodes:
        ir = checker.key(k, inner)
        if ir is ERROR:
            continue
        if ir.op != "field" or len(ir.value) != 1:
            scope.error("C0801", "an absence key must be a plain event field", k.span, "not a field",
                        "write e.g. `by user`")
            continue
        keys.append(ir)
        names.append(ir.value[0])
    if since_types:
        since_ctx = Context(since_types, f"rule `{rule.name}`")
        for k in key_nodes:
            ir = checker.key(k, since_ctx)
            if ir is not ERROR:
                since_keys.append(ir)
    if window is None or window <= 0:
        scope.error("C0214", "`absence` needs how long the silence lasts", q.span, "for how long?",
                    "write e.g. `absence(message by user for 14d)`")
        return None
    if ERROR is filt or len(keys) != len(key_nodes):
        return None
    return AbsenceSpec(types, filt, tuple(keys), tuple(names), window, tuple(since_types), tuple(since_keys))


def _check_steps(unit, item, what: str, n_name: str, check_action) -> tuple | None:
    ctx = Context((OFFENSE_CONTEXT,), f"{what} `{item.name}`")
    seen: dict[tuple, ast.Step] = {}
    steps = []
    n_ir = {"count": IR("offense_n", NUMBER, text=n_name)}
    for step in item.steps:
        key = (step.number, step.plus)
        if key in seen:
            unit.scope.error("C0504", f"step `{step.number}{'+' if step.plus else ''}` appears twice in {what} "
                             f"`{item.name}`", step.span, "second one", "merge the two steps")
            continue
        seen[key] = step
        actions = []
        for action in step.actions:
            if isinstance(action, (ast.StopAction, ast.OffenseAction)):
                unit.scope.error("C0506", f"`{'stop' if isinstance(action, ast.StopAction) else 'offense'}` "
                                 f"cannot be a {what} step", action.span, "not here",
                                 "a step lists actions such as `warn(\"…\")`, `mute(1h)` or `ban`")
                continue
            checked = check_action(unit, action, ctx, n_ir)
            if checked is not None:
                actions.append(checked)
        steps.append((step.number, step.plus, tuple(actions)))
    if not steps:
        unit.scope.error("C0505", f"{what} `{item.name}` has no steps", item.name_span, "nothing to do",
                         "add steps such as `1 => warn(\"…\")  3+ => mute(1h)`")
        return None
    return tuple(sorted(steps, key=lambda s: (s[0], s[1])))


def check_ladder(unit, item: ast.Ladder, check_action) -> CheckedLadder | None:
    window = None
    for opt in item.options:
        if opt.kind == "within":
            window = int(round(opt.duration.seconds * 1_000_000))
        elif opt.kind == "by" and not (len(opt.keys) == 1 and isinstance(opt.keys[0], ast.Path)
                                       and opt.keys[0].parts == ("user",)):
            unit.scope.error("C0801", "a ladder counts offenses per member", opt.span, "only `by user`",
                             "write `by user`, or leave `by` out")
        elif opt.kind not in ("by", "within"):
            unit.scope.error("C0211", f"`{opt.kind}` does not apply to a ladder", opt.span, "not used by ladders",
                             "a ladder takes `of \"category\"`, `by user` and `within DURATION`")
    if window is None:
        unit.scope.error("C0214", f"ladder `{item.name}` needs a window", item.name_span, "offenses expire when?",
                         "write e.g. `ladder spam of \"ads\" within 30d { … }`")
        return None
    steps = _check_steps(unit, item, "ladder", "the offense count", check_action)
    if steps is None:
        return None
    return CheckedLadder(unit.policy, item.name, tuple(c for c, _ in item.categories), window, steps)


def check_score(unit, item: ast.Score, check_action) -> CheckedScore | None:
    decay = 0.0
    for opt in item.options:
        if opt.kind == "decays":
            decay = opt.number / (opt.duration.seconds * 1_000_000)
        elif opt.kind == "by" and not (len(opt.keys) == 1 and isinstance(opt.keys[0], ast.Path)
                                       and opt.keys[0].parts == ("user",)):
            unit.scope.error("C0801", "a score is kept per member", opt.span, "only `by user`", "write `by user`")
        elif opt.kind != "by":
            unit.scope.error("C0211", f"`{opt.kind}` does not apply to a score", opt.span, "not used by scores",
                             "a score takes `of \"category\"`, `by user` and `decays N per DURATION`")
    weights = {c: w for c, _, w in item.weights}
    categories = tuple(c for c, _ in item.categories) or tuple(weights)
    steps = _check_steps(unit, item, "score", "the score", check_action)
    if steps is None:
        return None
    return CheckedScore(unit.policy, item.name, categories, weights, decay, steps)

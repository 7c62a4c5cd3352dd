"""Check a whole program (all loaded policy files) and produce the CheckedProgram the compiler takes.

Order matters: event declarations first (fields exist before rules read them), then each
file's definitions (names exist before use), then rules. Every independent error is
collected; nothing stops at the first.
"""
from __future__ import annotations

from pathlib import Path

import msgspec

from policyengine import ast
from policyengine.check.actions import ACTIONS
from policyengine.check.expressions import ERROR, ExpressionChecker
from policyengine.check.incentives import check_every, check_levels, check_points, check_role
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.moderation import (AbsenceSpec, CheckedLadder, CheckedScore, check_absence,  # noqa: F401
                                           check_ladder, check_score)
from policyengine.check.schema import ANY, BOOL, DECLARABLE_TYPES, DURATION, NUMBER, OFFENSE_CONTEXT, TEXT, TIME, Schema
from policyengine.check.scope import Context, ModuleScope
from policyengine.check.suggest import did_you_mean
from policyengine.check.templates import is_path, placeholder_span, split_template
from policyengine.check.words import load_words
from policyengine.diagnostics import Diagnostic, sort_key


class CheckedAction(msgspec.Struct, frozen=True):
    name: str
    args: dict[str, object]        # decision field → IR, or template parts tuple
    channel_level: bool
    span: object = None


class CheckedRule(msgspec.Struct, frozen=True):
    policy: str
    name: str
    file: str
    line: int
    priority: int
    order: int
    event_types: tuple[str, ...]
    condition: IR | None
    actions: tuple[CheckedAction, ...]
    reason: tuple | None
    once_keys: tuple[IR, ...] | None       # None: no `once`; () : once for the whole rule
    cooldown_us: int | None
    cooldown_keys: tuple[IR, ...]
    stop: bool
    member: IR | None = None               # whom decisions are about; None: the event's `user`
    absence: "AbsenceSpec | None" = None   # set for `on absence(…)` rules, which timers drive
    shadow: bool = False                   # decisions marked `shadow`, no effect on state, no `stop`
    sample: tuple | None = None            # (percent, key IRs): applies to that share of keys only


class CheckedProgram(msgspec.Struct, frozen=True):
    """Only `check_program` builds one: holding it proves checking passed."""
    rules: tuple[CheckedRule, ...]
    aggregates: dict[str, AggregateSpec]
    schema: Schema
    warnings: tuple[Diagnostic, ...] = ()
    ladders: tuple[CheckedLadder, ...] = ()
    scores: tuple[CheckedScore, ...] = ()
    currencies: dict = msgspec.field(default_factory=dict)      # name → CheckedCurrency
    levels: tuple = ()                                   # CheckedLevels
    everies: tuple = ()                                  # CheckedEvery
    roles: tuple = ()                                    # CheckedRole
    word_files: tuple = ()                               # (path, digest of its text): word lists read from files


class _Unit(msgspec.Struct):
    module: ast.Module
    scope: ModuleScope
    policy: str
    exempt: list = msgspec.field(default_factory=list)
    checker: ExpressionChecker | None = None          # made from the scope

    def __post_init__(self):
        self.checker = ExpressionChecker(self.scope)


def check_program(modules: list[ast.Module]) -> tuple[CheckedProgram | None, list[Diagnostic]]:
    schema = Schema()
    diagnostics: list[Diagnostic] = []
    _declare_events(modules, schema, diagnostics)
    units = [_unit(m, schema, diagnostics) for m in modules]
    rules: list[CheckedRule] = []
    seen_rules: dict[tuple[str, str], ast.Rule] = {}
    aggregates: dict[str, AggregateSpec] = {}
    ladders: list[CheckedLadder] = []
    scores: list[CheckedScore] = []
    currencies: dict = {}
    levels: list = []
    everies: list = []
    roles: list = []
    for unit in units:
        for item in unit.module.items:
            if isinstance(item, ast.Rule):
                key = (unit.policy, item.name)
                if key in seen_rules:
                    first = seen_rules[key]
                    unit.scope.error("C0503", f"duplicate rule name `{item.name}` in policy `{unit.policy}`",
                                     item.name_span, "second rule with this name",
                                     "rename one of the rules; decisions name their rule",
                                     (f"first defined at {first.name_span}",))
                    continue
                seen_rules[key] = item
                rule = _check_rule(unit, item, len(rules))
                if rule is not None:
                    rules.append(rule)
            elif isinstance(item, ast.Ladder):
                ladder = check_ladder(unit, item, _check_action)
                if ladder is not None:
                    ladders.append(ladder)
            elif isinstance(item, ast.Score):
                score = check_score(unit, item, _check_action)
                if score is not None:
                    scores.append(score)
            elif isinstance(item, ast.PointsDef):
                currency = check_points(unit, item)
                if currency is not None:
                    if currency.name in currencies:
                        unit.scope.error("C0102", f"currency `{currency.name}` is defined twice", item.name_span,
                                         "defined again here", "keep one `points` block per currency")
                    currencies[currency.name] = currency
            elif isinstance(item, ast.LevelsDef):
                lv = check_levels(unit, item, lambda acts, what, u=unit: _action_list(u, acts, what))
                if lv is not None:
                    levels.append(lv)
            elif isinstance(item, ast.EveryDef):
                ev = check_every(unit, item, lambda acts, what, u=unit: _action_list(u, acts, what))
                if ev is not None:
                    everies.append(ev)
            elif isinstance(item, ast.RoleDef):
                role = check_role(unit, item)
                if role is not None:
                    roles.append(role)
            elif isinstance(item, ast.Unsupported):
                unit.scope.error("C0900", f"`{item.construct}` is not supported yet", item.span,
                                 "parsed and checked for syntax, not evaluated",
                                 "remove it for now; " + _LATER[item.construct])
        _check_unused(unit)
        aggregates.update(unit.scope.aggregates)
        diagnostics.extend(unit.scope.diagnostics)
    diagnostics.sort(key=sort_key)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    _warn_unheard_offenses(rules, ladders, scores, diagnostics)
    _check_currencies(rules, currencies, levels, diagnostics, units)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    diagnostics.sort(key=sort_key)
    ordered = tuple(sorted(rules, key=lambda r: (-r.priority, r.order)))
    for every in everies:
        for award in every.awards:
            if award.metric.spec is not None:
                aggregates.setdefault(award.metric.spec.fingerprint, award.metric.spec)
    return CheckedProgram(ordered, aggregates, schema, tuple(diagnostics), tuple(ladders), tuple(scores),
                          currencies, tuple(levels), tuple(everies), tuple(roles),
                          tuple(sorted({f: d for u in units for f, d in u.scope.word_files.items()}.items()))), diagnostics


def _check_currencies(rules, currencies, levels, diagnostics, units) -> None:
    names = {r.name for r in rules}
    for currency in currencies.values():
        for source in sorted(currency.cap_exempt - names):
            diagnostics.append(Diagnostic("W0202", f"`{source}` is exempt from the `{currency.name}` cap but no rule "
                                          "has that name", None, "", "name a rule that awards these points"))
    used = {"points"} | set(currencies)
    for rule in rules:
        for action in rule.actions:
            c = action.args.get("currency") if action.name == "award_points" else None
            if isinstance(c, IR) and c.op == "const" and c.value not in used:
                diagnostics.append(Diagnostic("W0203", f"currency `{c.value}` has no `points {c.value} {{ … }}` block",
                                              action.span, "no cap, floor or decay",
                                              f"declare it with `points {c.value} {{ }}` if that is meant"))
    for lv in levels:
        if lv.currency not in used:
            diagnostics.append(Diagnostic("W0203", f"levels count currency `{lv.currency}`, which no rule awards",
                                          None, "", "award it with `award_points(n, \"" + lv.currency + "\")`"))


def _action_list(unit: _Unit, actions, what: str) -> tuple:
    """Actions of a level or a period award: common event fields only; `{count}` is the value."""
    ctx = Context((OFFENSE_CONTEXT,), what)
    n_ir = {"count": IR("offense_n", NUMBER, text="the value")}
    out = []
    for action in actions:
        if isinstance(action, (ast.StopAction, ast.OffenseAction)):
            unit.scope.error("C0506", f"`{'stop' if isinstance(action, ast.StopAction) else 'offense'}` cannot "
                             f"be an action of {what}", action.span, "not here", "use actions such as `promote(\"…\")`")
            continue
        checked = _check_action(unit, action, ctx, n_ir)
        if checked is not None:
            out.append(checked)
    return tuple(out)


def _warn_unheard_offenses(rules, ladders, scores, diagnostics) -> None:
    heard = {c for x in list(ladders) + list(scores) for c in (x.categories or ("*",))}
    for rule in rules:
        for action in rule.actions:
            if action.name == "offense" and "*" not in heard and action.args["category"].value not in heard:
                diagnostics.append(Diagnostic(
                    "W0201", f"no ladder or score counts offenses of category `{action.args['category'].value}`",
                    action.span, "recorded, never counted",
                    f"add `of \"{action.args['category'].value}\"` to a ladder, or drop the offense"))


_LATER: dict[str, str] = {}


def _declare_events(modules, schema: Schema, diagnostics: list[Diagnostic]) -> None:
    for m in modules:
        for item in m.items:
            if not isinstance(item, ast.EventDef):
                continue
            fields = {}
            for f in item.fields:
                if f.type_name not in DECLARABLE_TYPES:
                    diagnostics.append(Diagnostic(
                        "C0206", f"unknown field type `{f.type_name}`", f.type_span, "no such type",
                        did_you_mean(f.type_name, DECLARABLE_TYPES) or "field types: text, number, bool, list"))
                    continue
                fields[f.name] = DECLARABLE_TYPES[f.type_name]
            schema.declare(item.name, fields)


def _unit(module: ast.Module, schema: Schema, diagnostics: list[Diagnostic]) -> _Unit:
    scope = ModuleScope(module.path, module.source, schema, broken=set(module.broken_names))
    policy = Path(module.path).stem
    header = None
    for item in module.items:
        if isinstance(item, ast.PolicyHeader):
            if header is not None:
                scope.error("C0104", "a file names its policy once", item.span, "second `policy` line",
                            "keep one `policy NAME` line at the top of the file", (f"first at {header.span}",))
            else:
                header, policy = item, item.name
        elif isinstance(item, (ast.LetDef, ast.WordsDef)):
            if item.name in scope.lets or item.name in scope.words:
                scope.error("C0102", f"`{item.name}` is defined twice", item.name_span, "defined again here",
                            "rename one of the definitions")
                continue
            if isinstance(item, ast.LetDef):
                scope.lets[item.name] = item
            else:
                scope.words[item.name] = load_words(item, module.path, scope)
    return _Unit(module, scope, policy, [i for i in module.items if isinstance(i, ast.ExemptDef)])


def _check_unused(unit: _Unit) -> None:
    # Unused definitions are still checked (against every event type) so typos surface.
    for name, let in unit.scope.lets.items():
        if name not in unit.scope.used:
            unit.checker.check(let.value, Context(None, f"definition `{name}`"))


def _check_rule(unit: _Unit, rule: ast.Rule, order: int) -> CheckedRule | None:
    scope, checker = unit.scope, unit.checker
    priority, shadow, sample_opt = 0, False, None
    for opt in rule.options:
        if opt.kind == "priority":
            priority = int(opt.value)
        elif opt.kind == "shadow":
            shadow = True
        else:
            sample_opt = opt
            if not 0 < opt.value <= 100:
                scope.error("C0223", "a sample is a share from 0 to 100 %", opt.span, "out of range",
                            "write e.g. `sample 10% by user`")
    absence = None
    if rule.trigger.absence is not None:
        absence = check_absence(unit, rule)
        if absence is None:
            return None
        types = (f"absence:{unit.policy}/{rule.name}",)
        unit.scope.schema.events[types[0]] = {"type": TEXT, "ts": TIME, **{
            n: (k.type if k.type != ANY else TEXT) for n, k in zip(absence.key_names, absence.keys)}}
    else:
        types = checker.event_types(rule.trigger.event_types)
        if types is None:
            return None
    ctx = Context(types, f"rule `{rule.name}`")
    conditions: list[IR] = []
    if rule.where is not None:
        conditions.append(checker.expect(rule.where, ctx, BOOL, "a `where` condition"))
    clauses: dict[str, ast.Clause] = {}
    for clause in rule.clauses:
        if clause.kind in clauses and clause.kind not in ("when", "unless"):
            scope.error("C0504", f"`{clause.kind}` appears twice in rule `{rule.name}`", clause.span,
                        "second one", "merge them into one clause")
            continue
        clauses.setdefault(clause.kind, clause)
        if clause.kind == "when":
            conditions.append(checker.expect(clause.expr, ctx, BOOL, "a `when` condition"))
        elif clause.kind == "unless":
            conditions.append(IR("not", BOOL, args=(checker.expect(clause.expr, ctx, BOOL, "an `unless` condition"),)))
    for ex in unit.exempt:
        conditions.append(IR("not", BOOL, args=(checker.expect(ex.condition, ctx, BOOL, "an `exempt` condition"),)))
    condition = conditions[0] if len(conditions) == 1 else (IR("and", BOOL, args=tuple(conditions)) if conditions else None)
    count_aggs = {a.value.fingerprint: a for c in conditions for a in c.walk() if a.op == "agg"}
    if "do" not in clauses:
        scope.error("C0505", f"rule `{rule.name}` has no `do`", rule.name_span, "nothing to do",
                    'add the actions, e.g. `do warn("…")`')
        return None
    actions, stop = [], False
    for action in clauses["do"].actions:
        if isinstance(action, ast.StopAction):
            stop = True
        elif isinstance(action, ast.OffenseAction):
            actions.append(CheckedAction("offense", {"category": IR("const", TEXT, value=action.category)},
                                         False, action.span))
        else:
            checked = _check_action(unit, action, ctx, count_aggs)
            if checked is not None:
                actions.append(checked)
    reason = None
    if "reason" in clauses:
        c = clauses["reason"]
        reason = _template(unit, c.text, c.text_span, ctx, count_aggs)
    once_keys = _keys(unit, clauses["once"], ctx) if "once" in clauses else None
    cooldown_us, cooldown_keys = None, ()
    if "cooldown" in clauses:
        c = clauses["cooldown"]
        cooldown_us = int(round(c.duration.seconds * 1_000_000))
        cooldown_keys = _keys(unit, c, ctx)
    member = None
    if "for" in clauses:
        node = clauses["for"].keys[0]
        who = checker.check(node, ctx)
        keys = (who,) if who is not ERROR and (who.op == "field" or (who.op == "member" and who.value == "invited_by")) else ()
        if who is not ERROR and not keys:
            unit.scope.error("C0802", "`for` names an event field or `user.invited_by`", node.span, "not a member",
                             "write e.g. `for target_user` or `for user.invited_by`")
        if keys and keys[0].type not in (TEXT, ANY):
            unit.scope.error("C0802", "`for` names the member decisions are about and must be a text field",
                             clauses["for"].keys[0].span, f"this is {keys[0].type}", "write e.g. `for target_user`")
        member = keys[0] if keys else None
    sample = None
    if sample_opt is not None:
        keys = tuple(ir for ir in (checker.check(k, ctx) for k in sample_opt.keys) if ir is not ERROR)
        sample = (sample_opt.value, keys)
    return CheckedRule(unit.policy, rule.name, unit.module.path, rule.span.line, priority, order,
                       () if absence else types, condition, tuple(actions), reason, once_keys, cooldown_us,
                       cooldown_keys, stop and not shadow, member, absence, shadow, sample)


def _keys(unit: _Unit, clause: ast.Clause, ctx: Context) -> tuple[IR, ...]:
    """`once per …` / `cooldown … per …` keys: event fields, or values such as `date(ts, "…")`."""
    out = []
    for k in clause.keys:
        ir = unit.checker.check(k, ctx)
        if ir is ERROR:
            continue
        if ir.type not in (TEXT, NUMBER, ANY):
            unit.scope.error("C0801", "this cannot be a key", k.span, f"this is {ir.type}",
                             "use an event field such as `user`, `channel` or `target`, or `date(ts)`")
            continue
        out.append(ir)
    return tuple(out)


def _check_action(unit: _Unit, action: ast.Action, ctx: Context, count_aggs) -> CheckedAction | None:
    scope, checker = unit.scope, unit.checker
    sig = ACTIONS.get(action.name)
    if sig is None:
        scope.error("C0501", f"unknown action `{action.name}`", action.name_span, "no such action",
                    did_you_mean(action.name, ACTIONS) or f"actions: {', '.join(sorted(ACTIONS))}")
        return None
    required = sum(1 for p in sig.params if not p.optional)
    if not (required <= len(action.args) <= len(sig.params)):
        scope.error("C0502", f"`{sig.name}` takes {_arity(required, len(sig.params))}, got {len(action.args)}",
                    action.span, "wrong number of arguments", f"write `{sig.usage()}`")
        return None
    args: dict[str, object] = {}
    for param, node in zip(sig.params, action.args):
        if param.target and isinstance(node, ast.Path) and node.parts == ("moderators",):
            args["to"] = IR("const", TEXT, value="moderators")
            continue
        if param.type == TEXT and isinstance(node, ast.Literal) and node.kind == "text":
            parts = _template(unit, node.value, node.span, ctx, count_aggs)
            # A string without placeholders is a constant: later stages need not know templates.
            constant = all(isinstance(p, str) for p in parts)
            args[param.field] = IR("const", TEXT, value="".join(parts)) if constant else parts
            continue
        ir = checker.expect(node, ctx, param.type, f"`{param.name}` of `{sig.name}`")
        if ir is ERROR:
            return None
        if param.type == DURATION and ir.op == "const" and ir.value <= 0:
            scope.error("C0213", "a duration here must be longer than zero", node.span,
                        "zero or negative", "write a positive duration such as `1h`")
            return None
        args[param.field] = ir
    if action.then is not None:
        wanted = {"mute": "unmute", "ban": "unban"}.get(sig.name)
        if action.then[0] != wanted or (sig.name == "ban" and "duration_s" not in args):
            scope.error("C0507", f"`then {action.then[0]}` does not follow `{sig.name}`", action.then[1],
                        "not here", "write `mute(1h) then unmute` or `ban(7d) then unban`: the engine then "
                        "announces the end when event time reaches it")
            return None
        args["then"] = True
    return CheckedAction(sig.name, args, sig.channel_level, action.span)


def _arity(required: int, total: int) -> str:
    if required == total:
        return f"{total} argument{'s' if total != 1 else ''}" if total else "no arguments"
    return f"{required} to {total} arguments"


def _template(unit: _Unit, text: str, span, ctx: Context, count_aggs) -> tuple:
    parts: list = []
    for kind, value, offset in split_template(text):
        if kind == "text":
            parts.append(value)
            continue
        pspan = placeholder_span(span, offset, len(value) + 2)
        if kind == "bad":
            unit.scope.error("C0603", "unmatched brace in a template", placeholder_span(span, offset, 1),
                             "unmatched", "write `{{` or `}}` for a literal brace")
            continue
        if value == "count":
            if len(count_aggs) == 1:
                parts.append(next(iter(count_aggs.values())))
            else:
                unit.scope.error("C0602" if count_aggs else "C0601",
                                 "`{count}` is ambiguous: the rule has several counts" if count_aggs
                                 else "`{count}` names no count: the rule's conditions have none", pspan,
                                 "which count?", "name the count with `let N = count(…)` and write `{N}`")
            continue
        if not is_path(value):
            unit.scope.error("C0601", f"`{{{value}}}` is not a name", pspan, "not a name",
                             "a placeholder holds a field or definition name, e.g. `{user}` or `{channel}`")
            continue
        ir = unit.checker.check(ast.Path(pspan, tuple(value.split("."))), ctx)
        if ir is not ERROR:
            parts.append(ir)
    return tuple(parts)

"""Turn Lark's parse tree into our AST dataclasses, with a span on every node."""
from __future__ import annotations

import lark
from lark import Token, Transformer, v_args

from policyengine import ast
from policyengine.diagnostics import Diagnostic, Span
from policyengine.syntax.strings import EscapeError, decode_string

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float:
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        total += int(number) * _UNIT_SECONDS[unit]
        number = ""
        i += len(unit)
    return total


def _number(tok) -> int | float:
    """A number as written: an int without a decimal point, else a float. Caps and level
    thresholds keep their ints so that points stay ints and compare as C integers in the giver
    (runtime/_points.c; a float threshold sent every award's level check through Python's
    comparisons)."""
    text = str(tok)
    return float(text) if "." in text else int(text)


@v_args(meta=True)
class ToAst(Transformer):
    def __init__(self, file: str):
        super().__init__(visit_tokens=False)
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    # ---- helpers ---------------------------------------------------------
    def tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def mspan(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def string(self, meta, children) -> ast.Literal:
        tok = children[0]
        return ast.Literal(self.tspan(tok), self.decode(tok), "text")

    def decode(self, tok: Token) -> str:
        try:
            return decode_string(str(tok))
        except EscapeError as err:
            span = Span(self.file, tok.line, tok.column + err.offset, tok.line, tok.column + err.offset + err.length)
            self.diagnostics.append(Diagnostic("P0104", str(err), span, "bad escape",
                                               'write `\\\\` for a backslash, `\\"` for a quote, `\\n` for a new line'))
            return str(tok)[1:-1]

    # ---- top level -------------------------------------------------------
    def module(self, meta, children):
        return [c for c in children if c is not None]

    def policy_header(self, meta, children):
        name, title = children
        return ast.PolicyHeader(self.mspan(meta), str(name), self.tspan(name),
                                self.decode(title) if title is not None else None)

    def let_def(self, meta, children):
        name, value = children
        return ast.LetDef(self.mspan(meta), str(name), self.tspan(name), value)

    def words_def(self, meta, children):
        name, value = children
        if isinstance(value, ast.ListExpr):
            return ast.WordsDef(self.mspan(meta), str(name), self.tspan(name), value, None, None)
        file_text, file_span = value
        return ast.WordsDef(self.mspan(meta), str(name), self.tspan(name), None, file_text, file_span)

    def words_file(self, meta, children):
        tok = children[0]
        return (self.decode(tok), self.tspan(tok))

    def event_def(self, meta, children):
        name, *fields = children
        return ast.EventDef(self.mspan(meta), str(name), self.tspan(name),
                            tuple(f for f in fields if f is not None))

    def field_decl(self, meta, children):
        name, type_name = children
        return ast.FieldDecl(self.mspan(meta), str(name), str(type_name), self.tspan(type_name))

    def exempt_def(self, meta, children):
        return ast.ExemptDef(self.mspan(meta), children[0])

    # ---- rules -----------------------------------------------------------
    def rule_def(self, meta, children):
        name, description, *rest = children
        options = tuple(c for c in rest if isinstance(c, ast.RuleOption))
        trigger, where = next(c for c in rest if isinstance(c, tuple))
        clauses = tuple(c for c in rest if isinstance(c, ast.Clause))
        return ast.Rule(self.mspan(meta), str(name), self.tspan(name),
                        self.decode(description) if description is not None else None,
                        options, trigger, where, clauses)

    def priority_opt(self, meta, children):
        return ast.RuleOption(self.mspan(meta), "priority", int(children[0]))

    def priority_negative(self, meta, children):
        return ast.RuleOption(self.mspan(meta), "priority", -int(children[0]))

    def shadow_opt(self, meta, children):
        return ast.RuleOption(self.mspan(meta), "shadow")

    def sample_opt(self, meta, children):
        percent, keys = children
        return ast.RuleOption(self.mspan(meta), "sample", float(percent), keys)

    def on_clause(self, meta, children):
        trigger = children[0]
        where = children[1] if len(children) > 1 else None
        return (trigger, where)

    def event_types(self, meta, children):
        return ast.Trigger(self.mspan(meta), tuple((str(t), self.tspan(t)) for t in children))

    def absence(self, meta, children):
        query = children[0]
        return ast.Trigger(self.mspan(meta), query.event_types, absence=query)

    def for_clause(self, meta, children):
        return ast.Clause(self.mspan(meta), "for", keys=(children[0],))

    def when_clause(self, meta, children):
        return ast.Clause(self.mspan(meta), "when", expr=children[0])

    def unless_clause(self, meta, children):
        return ast.Clause(self.mspan(meta), "unless", expr=children[0])

    def do_clause(self, meta, children):
        return ast.Clause(self.mspan(meta), "do", actions=tuple(children))

    def reason_clause(self, meta, children):
        tok = children[0]
        return ast.Clause(self.mspan(meta), "reason", text=self.decode(tok), text_span=self.tspan(tok))

    def once_clause(self, meta, children):
        return ast.Clause(self.mspan(meta), "once", keys=children[0] or ())

    def cooldown_clause(self, meta, children):
        dur, keys = children
        return ast.Clause(self.mspan(meta), "cooldown", duration=self._duration(dur), keys=keys or ())

    def call_action(self, meta, children):
        (name, name_span) = children[0]
        rest = children[1:]
        args = rest[0] if rest and isinstance(rest[0], tuple) and not isinstance(rest[0], Token) else None
        then = None
        if len(rest) >= 2 and rest[-1] is not None:
            then = (str(rest[-1]), self.tspan(rest[-1]))
        return ast.Action(self.mspan(meta), name, name_span, args or (), args is not None, then)

    def action_args(self, meta, children):
        return tuple(a for a in children if a is not None)

    def action_name(self, meta, children):
        tok = children[0]
        return (str(tok), self.tspan(tok))

    def offense_action(self, meta, children):
        return ast.OffenseAction(self.mspan(meta), self.decode(children[0]))

    def stop_action(self, meta, children):
        return ast.StopAction(self.mspan(meta))

    def key_list(self, meta, children):
        return tuple(children)

    def key_call(self, meta, children):
        name, arg, *rest = children
        extra = tuple(ast.Literal(self.tspan(t), self.decode(t), "text") for t in rest)
        return ast.Call(self.mspan(meta), str(name), self.tspan(name), (arg,) + extra)

    # ---- later-release items ----------------------------------------------
    def _unsupported(self, meta, keyword: str) -> ast.Unsupported:
        # Underline the keyword only: the whole item would drown the message.
        return ast.Unsupported(Span(self.file, meta.line, meta.column, meta.line, meta.column + len(keyword)), keyword)

    def ladder_def(self, meta, children):
        name, categories, *rest = children
        options = tuple(c for c in rest if isinstance(c, ast.QueryOption))
        steps = tuple(c for c in rest if isinstance(c, ast.Step))
        return ast.Ladder(self.mspan(meta), str(name), self.tspan(name), categories or (), options, steps)

    def score_def(self, meta, children):
        name, categories, *rest = children
        options = tuple(c for c in rest if isinstance(c, ast.QueryOption))
        steps = tuple(c for c in rest if isinstance(c, ast.Step))
        weights = tuple(c for c in rest if isinstance(c, tuple))
        return ast.Score(self.mspan(meta), str(name), self.tspan(name), categories or (), options, weights, steps)

    def categories(self, meta, children):
        return tuple((self.decode(t), self.tspan(t)) for t in children)

    def ladder_step(self, meta, children):
        number, plus, *actions = children
        if "." in str(number):
            self.diagnostics.append(Diagnostic("P0106", "a step is a whole number", self.tspan(number),
                                               "not whole", "write e.g. `3 => mute(1d)` or `4+ => ban`"))
        return ast.Step(self.mspan(meta), int(float(str(number))), plus is not None, tuple(actions))

    score_step = ladder_step

    def score_weight(self, meta, children):
        category, amount = children
        return (self.decode(category), self.tspan(category), float(amount))

    def levels_def(self, meta, children):
        name, currency, mode, body = children
        mode_text = str(mode) if mode is not None else None
        mode_span = self.tspan(mode) if mode is not None else None
        common = dict(name=str(name) if name is not None else None, currency=str(currency),
                      currency_span=self.tspan(currency), mode=mode_text, mode_span=mode_span)
        if isinstance(body, dict):           # formula
            return ast.LevelsDef(self.mspan(meta), **common, formula=body["formula"], formula_name=body["named"])
        if isinstance(body, ast.LevelEntry):  # Lark inlines a one-entry body
            body = (body,)
        return ast.LevelsDef(self.mspan(meta), **common, entries=tuple(body or ()))

    def levels_body(self, meta, children):
        return tuple(c for c in children if c is not None)

    def levels_formula(self, meta, children):
        formula, named = children
        return {"formula": formula, "named": self.decode(named) if named is not None else None}

    def level_entry(self, meta, children):
        threshold, name, *actions = children
        return ast.LevelEntry(self.mspan(meta), _number(threshold), self.decode(name),
                              tuple(a for a in actions if a is not None))

    def every_def(self, meta, children):
        period, tz, *awards = children
        return ast.EveryDef(self.mspan(meta), str(period), self.tspan(period),
                            self.decode(tz) if tz is not None else None, tuple(awards))

    def period_award(self, meta, children):
        top, metric, among, *actions = children
        currency = None
        if isinstance(metric, tuple):        # points [currency]
            currency, metric = metric[1], None
        return ast.PeriodAward(self.mspan(meta), int(top), metric, currency,
                               (str(among), self.tspan(among)) if among is not None else None,
                               tuple(a for a in actions if a is not None))

    def points_metric(self, meta, children):
        return ("points", self.decode(children[0]) if children[0] is not None else None)

    def points_def(self, meta, children):
        name, *options = children
        fields: dict = {}
        for kind, value in options:
            fields.update(value)
        return ast.PointsDef(self.mspan(meta), str(name), self.tspan(name), **fields)

    def cap_option(self, meta, children):
        amount, period, *exempt = children
        return ("cap", dict(cap=_number(amount), cap_period=str(period), cap_period_span=self.tspan(period),
                            cap_exempt=tuple((str(e), self.tspan(e)) for e in exempt if e is not None)))

    def floor_option(self, meta, children):
        return ("floor", dict(floor=_number(children[0])))

    def floor_negative(self, meta, children):
        return ("floor", dict(floor=-_number(children[0])))

    def points_decay_option(self, meta, children):
        amount, per = children
        return ("decay", dict(decay=float(amount), decay_per=self._duration(per)))

    def points_tz_option(self, meta, children):
        return ("tz", dict(tz=self.decode(children[0]), tz_span=self.tspan(children[0])))

    def role_def(self, meta, children):
        role, *items = children
        requires = tuple(v for k, v in items if k == "requires")
        keep = next((v for k, v in items if k == "keep"), None)
        grace = next((v for k, v in items if k == "grace"), None)
        title = next((v for k, v in items if k == "title"), None)
        return ast.RoleDef(self.mspan(meta), self.decode(role), self.tspan(role), requires, keep, grace, title)

    def requires_item(self, meta, children):
        return ("requires", children[0])

    def keep_item(self, meta, children):
        return ("keep", float(children[0]))

    def grace_item(self, meta, children):
        return ("grace", self._duration(children[0]))

    def role_title_item(self, meta, children):
        return ("title", self.decode(children[0]))

    def grace_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "grace", number=float(children[0]))


    # ---- expressions -----------------------------------------------------
    def or_expr(self, meta, children):
        return ast.BoolOp(self.mspan(meta), "or", tuple(children))

    def and_expr(self, meta, children):
        return ast.BoolOp(self.mspan(meta), "and", tuple(children))

    def not_op(self, meta, children):
        return ast.Not(self.mspan(meta), children[0])

    def negate(self, meta, children):
        return ast.Negate(self.mspan(meta), children[0])

    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(self.mspan(meta), str(op), left, right)

    def arith(self, meta, children):
        left, op, right = children
        return ast.Arith(self.mspan(meta), str(op), left, right)

    def _predicate(op):
        def build(self, meta, children):
            left, right = children[0], children[-1]
            op_span = Span(self.file, left.span.end_line, left.span.end_col + 1,
                           right.span.line, max(right.span.col - 1, 1))
            return ast.Predicate(self.mspan(meta), op, left, right, op_span)
        return build

    in_op = _predicate("in")
    not_in_op = _predicate("not in")
    contains = _predicate("contains")
    contains_any = _predicate("contains any")
    contains_all = _predicate("contains all")
    starts_with = _predicate("starts with")
    ends_with = _predicate("ends with")
    has = _predicate("has")
    has_any = _predicate("has any")
    has_all = _predicate("has all")
    has_label = _predicate("has label")
    del _predicate

    def matches(self, meta, children):
        subject, tok = children
        return ast.Matches(self.mspan(meta), subject, self._regex(tok))

    def regex(self, meta, children):
        return self._regex(children[0])

    def _regex(self, tok: Token) -> ast.Regex:
        text = str(tok)
        close = text.rfind("/")
        return ast.Regex(self.tspan(tok), text[1:close].replace("\\/", "/"), text[close + 1:])

    def number(self, meta, children):
        tok = children[0]
        return ast.Literal(self.tspan(tok), _number(tok), "number")

    def duration(self, meta, children):
        return self._duration(children[0])

    def _duration(self, tok: Token) -> ast.Duration:
        return ast.Duration(self.tspan(tok), duration_seconds(str(tok)), str(tok))

    def true(self, meta, children):
        return ast.Literal(self.mspan(meta), True, "bool")

    def false(self, meta, children):
        return ast.Literal(self.mspan(meta), False, "bool")

    def list(self, meta, children):
        return ast.ListExpr(self.mspan(meta), tuple(c for c in children if c is not None))

    def path(self, meta, children):
        return ast.Path(self.mspan(meta), tuple(str(c) for c in children))

    def call(self, meta, children):
        name, *args = children
        return ast.Call(self.mspan(meta), str(name), self.tspan(name), tuple(a for a in args if a is not None))

    def aggregate(self, meta, children):
        fn, of, query = children
        return ast.Aggregate(self.mspan(meta), str(fn), self.tspan(fn), of, query)

    def query(self, meta, children):
        types, *rest = children
        where = next((c for c in rest if not isinstance(c, ast.QueryOption)), None)
        options = tuple(c for c in rest if isinstance(c, ast.QueryOption))
        return ast.Query(self.mspan(meta), types.event_types, where, options)

    def by_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "by", keys=children[0])

    def within_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "within", duration=self._duration(children[0]))

    def for_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "for", duration=self._duration(children[0]))

    def daily_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "daily")

    def weekly_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "weekly")

    def since_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "since", event_types=children[0].event_types)

    def above_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "above", number=float(children[0]))

    def decays_option(self, meta, children):
        amount, dur = children
        return ast.QueryOption(self.mspan(meta), "decays", number=float(amount), duration=self._duration(dur))

    def tz_option(self, meta, children):
        return ast.QueryOption(self.mspan(meta), "tz", text=self.decode(children[0]))


def to_ast(tree: lark.Tree, file: str) -> tuple[list, list[Diagnostic]]:
    builder = ToAst(file)
    items = builder.transform(tree)
    return items, builder.diagnostics

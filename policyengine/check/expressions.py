"""Check one expression: resolve names, infer and check types, produce IR."""
from __future__ import annotations

from policyengine import ast
from policyengine.check.ir import IR, AggregateSpec
from policyengine.check.schema import (ANY, BOOL, DURATION, LIST, MEMBER_ATTRIBUTES, MEMBER_ATTRIBUTES_LATER,
                                       NUMBER, TEXT, TIME, WORDS)
from policyengine.check.scope import Context, ModuleScope
from policyengine.check.suggest import did_you_mean
from policyengine.runtime.matchers import RegexError, SafeRegex

ERROR = IR("error", ANY)
_FUNCTIONS = {  # name: (parameter types, result type)
    "len": ((TEXT,), NUMBER), "lower": ((TEXT,), TEXT), "upper": ((TEXT,), TEXT), "trim": ((TEXT,), TEXT),
    "abs": ((NUMBER,), NUMBER), "min": ((NUMBER, NUMBER), NUMBER), "max": ((NUMBER, NUMBER), NUMBER),
    "normalize": ((TEXT,), TEXT), "link_count": ((TEXT,), NUMBER), "mention_count": ((TEXT,), NUMBER),
    "caps_ratio": ((TEXT,), NUMBER), "emoji_ratio": ((TEXT,), NUMBER),
}
_AGGREGATES_LATER: set[str] = set()
# Which query options each aggregate takes, and whether it needs `… of`.
_AGGREGATE_FORMS = {
    "count": ({"by", "within"}, False), "sum": ({"by", "within"}, True), "distinct": ({"by", "within"}, True),
    "rate": ({"by", "within"}, False), "repeats": ({"by", "within"}, None), "similar": ({"by", "within", "above"}, None),
    "elapsed": ({"by"}, False),
    "streak": ({"by", "daily", "weekly", "tz", "grace"}, False),
    "best_streak": ({"by", "daily", "weekly", "tz", "grace"}, False),
    "active_days": ({"by", "within", "tz"}, False),
}
_AGGREGATE_TYPES = {"count": NUMBER, "sum": NUMBER, "distinct": NUMBER, "rate": NUMBER, "repeats": NUMBER,
                    "similar": NUMBER, "elapsed": DURATION, "streak": NUMBER, "best_streak": NUMBER,
                    "active_days": NUMBER}
_KEY_FUNCTIONS = {"normalize", "lower"}
_REGEX_FLAGS = {"i": "ignore case", "m": "multi-line", "s": "dot matches new line"}
_LIST_LIKE = (LIST, WORDS, ANY)


def compatible(actual: str, wanted: str | tuple[str, ...]) -> bool:
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    return actual == ANY or ANY in wanted or actual in wanted or (actual == WORDS and LIST in wanted)


def source_text(scope: ModuleScope, node: ast.Node) -> str:
    lines = scope.source.splitlines()
    s = node.span
    if s.line == s.end_line and 1 <= s.line <= len(lines):
        return lines[s.line - 1][s.col - 1:s.end_col - 1]
    if 1 <= s.line <= len(lines):
        return " ".join(l.strip() for l in lines[s.line - 1:s.end_line])
    return ""


class ExpressionChecker:
    def __init__(self, scope: ModuleScope):
        self.scope = scope

    def expect(self, node: ast.Node, ctx: Context, wanted, what: str) -> IR:
        ir = self.check(node, ctx)
        if ir.op != "error" and not compatible(ir.type, wanted):
            names = " or ".join(wanted) if isinstance(wanted, tuple) else wanted
            must = "true or false" if wanted == BOOL else _article(names)
            self.scope.error("C0401", f"{what} must be {must}, found {_article(ir.type)}", node.span,
                             f"this is {_article(ir.type)}", _type_help(ir.type, wanted))
            return ERROR
        return ir

    def check(self, node: ast.Node, ctx: Context) -> IR:
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node, ctx)

    # ---- names -------------------------------------------------------------
    def _path(self, node: ast.Path, ctx: Context) -> IR:
        scope, head = self.scope, node.parts[0]
        text = node.dotted
        if len(node.parts) == 1 and head in scope.lets:
            return self._let(head, node, ctx)
        if head in scope.broken:
            return ERROR                      # its syntax error was reported already
        if len(node.parts) == 1 and head in scope.words:
            scope.used.add(head)
            return IR("const", WORDS, value=scope.words[head], text=head)
        if head == "event":
            if len(node.parts) == 1:
                scope.error("C0203", "`event` needs a field name", node.span, "which field?",
                            "write `event.FIELD`, e.g. `event.lang`")
                return ERROR
            known, _ = scope.schema.field_type(ctx.event_types, node.parts[1])
            typ = known if (known and len(node.parts) == 2) else ANY
            return IR("field", typ, value=node.parts[1:], text=text)
        if head == "user" and len(node.parts) > 1:
            return self._member(node, ctx)
        if head in scope.lets or head in scope.words:
            scope.error("C0203", f"`{head}` is a definition and has no attributes", node.span,
                        "not an event field", f"write `{head}` alone")
            return ERROR
        typ, missing = scope.schema.field_type(ctx.event_types, head)
        if typ is None and ctx.event_types and ctx.event_types[0].startswith("absence:"):
            known = sorted(n for n in scope.schema.events[ctx.event_types[0]] if n not in ("type", "ts"))
            scope.error("C0207", f"`{head}` is not known when an absence timer fires", node.span,
                        "no event here", f"a timer knows only its keys ({', '.join(f'`{k}`' for k in known)}) "
                        "and the time; put conditions on the events inside `absence(… where …)`")
            return ERROR
        if typ is None:
            candidates = scope.schema.all_fields(ctx.event_types) | set(scope.lets) | set(scope.words)
            kinds = " or ".join(f"`{t}`" for t in (ctx.event_types or ()) if not t.startswith("<"))
            message = (f"unknown field `{head}` on event {kinds}" if kinds else f"unknown name `{head}`")
            hint = did_you_mean(head, candidates) or (
                "define it with `let`, or read a field the schema does not know with `event." + head + "`")
            scope.error("C0203", message, node.span, "no such field" if ctx.event_types else "not defined", hint)
            return ERROR
        if missing and ctx.event_types:
            scope.error("C0205", f"field `{head}` is not on every event this applies to",
                        node.span, f"`{missing[0]}` has no `{head}`",
                        f"narrow the event types, or write `event.{head}` to read it where present")
            return ERROR
        if len(node.parts) > 1 and typ != ANY:
            scope.error("C0203", f"field `{head}` is {_article(typ)} and has no attributes", node.span,
                        "no attributes here", f"write `{head}` alone")
            return ERROR
        return IR("field", typ, value=node.parts, text=text)

    def _member(self, node: ast.Path, ctx: Context) -> IR:
        attr = node.parts[1]
        if len(node.parts) == 2 and attr in MEMBER_ATTRIBUTES:
            if attr == "id":
                return IR("field", TEXT, value=("user",), text="user.id")
            if attr == "roles":
                return IR("field", LIST, value=("roles",), text="user.roles")
            who = IR("field", TEXT, value=("user",), text="user")
            if attr == "labels":
                return IR("labels", LIST, args=(who,), text="user.labels")
            return IR("member", MEMBER_ATTRIBUTES[attr], args=(who,), value=attr, text=f"user.{attr}")
        if attr in MEMBER_ATTRIBUTES_LATER:
            self.scope.error("C0900", f"member attribute `user.{attr}` is not supported yet", node.span,
                             "not supported yet", "points, levels, titles, badges and streaks arrive with the incentives release")
            return ERROR
        self.scope.error("C0204", f"unknown member attribute `user.{attr}`", node.span, "no such attribute",
                         did_you_mean(attr, MEMBER_ATTRIBUTES) or
                         f"members have {', '.join(f'`user.{a}`' for a in MEMBER_ATTRIBUTES)}")
        return ERROR

    def _let(self, name: str, node: ast.Path, ctx: Context) -> IR:
        scope = self.scope
        scope.used.add(name)
        if name in scope._resolving:
            cycle = " → ".join(scope._resolving[scope._resolving.index(name):] + [name])
            scope.error("C0103", f"definition `{name}` refers to itself", node.span, "cycle here",
                        f"break the cycle {cycle}")
            return ERROR
        key = (name, ctx.event_types)
        if key not in scope._let_cache:
            scope._resolving.append(name)
            try:
                scope._let_cache[key] = self.check(scope.lets[name].value, ctx)
            finally:
                scope._resolving.pop()
        return scope._let_cache[key]

    # ---- literals ----------------------------------------------------------
    def _literal(self, node: ast.Literal, ctx: Context) -> IR:
        return IR("const", {"text": TEXT, "number": NUMBER, "bool": BOOL}[node.kind], value=node.value,
                  text=repr(node.value))

    def _duration(self, node: ast.Duration, ctx: Context) -> IR:
        return IR("const", DURATION, value=node.seconds, text=node.text)

    def _regex(self, node: ast.Regex, ctx: Context) -> IR:
        self.scope.error("C0303", "a regular expression can only follow `matches`", node.span,
                         "not a value", "write `text matches /…/`")
        return ERROR

    def _listexpr(self, node: ast.ListExpr, ctx: Context) -> IR:
        items = tuple(self.expect(i, ctx, (TEXT, NUMBER), "a list item") for i in node.items)
        return IR("list", LIST, args=items, text="[…]")

    # ---- operators ---------------------------------------------------------
    def _not(self, node: ast.Not, ctx: Context) -> IR:
        return IR("not", BOOL, args=(self.expect(node.operand, ctx, BOOL, "the operand of `not`"),))

    def _negate(self, node: ast.Negate, ctx: Context) -> IR:
        operand = self.expect(node.operand, ctx, (NUMBER, DURATION), "the operand of `-`")
        return IR("neg", operand.type if operand.type != ANY else NUMBER, args=(operand,))

    def _boolop(self, node: ast.BoolOp, ctx: Context) -> IR:
        args = tuple(self.expect(o, ctx, BOOL, f"each side of `{node.op}`") for o in node.operands)
        return IR(node.op, BOOL, args=args)

    def _arith(self, node: ast.Arith, ctx: Context) -> IR:
        left, right = self.check(node.left, ctx), self.check(node.right, ctx)
        if ERROR in (left, right):
            return ERROR
        result = _arith_type(node.op, left.type, right.type)
        if result is None:
            self.scope.error("C0401", f"cannot apply `{node.op}` to {left.type} and {right.type}", node.span,
                             f"{left.type} {node.op} {right.type}",
                             "numbers combine with numbers; durations add to durations and times, and scale by numbers")
            return ERROR
        return IR("arith", result, args=(left, right), value=(node.op, left.type, right.type))

    def _compare(self, node: ast.Compare, ctx: Context) -> IR:
        left, right = self.check(node.left, ctx), self.check(node.right, ctx)
        if ERROR in (left, right):
            return IR("cmp", BOOL, args=(left, right), value=node.op, text=source_text(self.scope, node))
        if not (left.type == right.type or ANY in (left.type, right.type)) or \
                (node.op not in ("==", "!=") and left.type in (BOOL, LIST, WORDS)):
            self.scope.error("C0401", f"cannot compare {left.type} with {right.type} using `{node.op}`", node.span,
                             f"{left.type} {node.op} {right.type}", _compare_help(left.type, right.type))
        return IR("cmp", BOOL, args=(left, right), value=node.op, text=source_text(self.scope, node))

    def _predicate(self, node: ast.Predicate, ctx: Context) -> IR:
        op = node.op
        if op in ("in", "not in"):
            left = self.expect(node.left, ctx, (TEXT, NUMBER), f"the left side of `{op}`")
            right = self.expect(node.right, ctx, _LIST_LIKE, f"the right side of `{op}`")
        elif op in ("contains", "starts with", "ends with"):
            left = self.expect(node.left, ctx, TEXT, f"the left side of `{op}`")
            right = self.expect(node.right, ctx, TEXT, f"the right side of `{op}`")
        elif op in ("contains any", "contains all"):
            left = self.expect(node.left, ctx, TEXT, f"the left side of `{op}`")
            right = self.expect(node.right, ctx, _LIST_LIKE, f"the right side of `{op}`")
        elif op == "has":
            left = self.expect(node.left, ctx, _LIST_LIKE, "the left side of `has`")
            right = self.expect(node.right, ctx, (TEXT, NUMBER), "the right side of `has`")
        elif op in ("has any", "has all"):
            left = self.expect(node.left, ctx, _LIST_LIKE, f"the left side of `{op}`")
            right = self.expect(node.right, ctx, _LIST_LIKE, f"the right side of `{op}`")
        else:  # has label
            left = self.expect(node.left, ctx, TEXT, "the member before `has label`")
            right = self.expect(node.right, ctx, TEXT, "the label")
            return IR("has_label", BOOL, args=(left, right), text=source_text(self.scope, node))
        return IR("pred", BOOL, args=(left, right), value=op, text=source_text(self.scope, node))

    def _matches(self, node: ast.Matches, ctx: Context) -> IR:
        subject = self.expect(node.subject, ctx, TEXT, "the left side of `matches`")
        for i, flag in enumerate(node.regex.flags):
            if flag not in _REGEX_FLAGS:
                span = node.regex.span
                col = span.end_col - len(node.regex.flags) + i
                self.scope.error("C0305", f"unknown regular expression flag `{flag}`",
                                 type(span)(span.file, span.line, col, span.line, col + 1), "unknown flag",
                                 "flags are `i` (ignore case), `m` (multi-line), `s` (dot matches new line)")
                return ERROR
        try:
            SafeRegex(node.regex.pattern, node.regex.flags)
        except RegexError as err:
            message = str(err).strip("b'\"")
            backtracking = any(t in node.regex.pattern for t in ("(?=", "(?!", "(?<", "\\1", "\\2"))
            self.scope.error("C0306" if backtracking else "C0304",
                             "this regular expression needs backtracking, which hostile text can make take "
                             "exponential time" if backtracking else f"invalid regular expression: {message}",
                             node.regex.span, "not allowed" if backtracking else "does not compile",
                             "rewrite it without look-around or back-references; patterns run on RE2, "
                             "in time linear in the message" if backtracking else
                             "check brackets and escapes; write `\\/` for a slash")
            return ERROR
        return IR("match", BOOL, args=(subject,), value=(node.regex.pattern, node.regex.flags),
                  text=source_text(self.scope, node))

    def _call(self, node: ast.Call, ctx: Context) -> IR:
        name = node.name
        if name == "random":
            if len(node.args) != 2:
                self.scope.error("C0302", "`random` takes 2 arguments", node.span, "wrong number of arguments",
                                 "write `random(15, 25)`: a whole number from 15 to 25, the same on every replay")
                return ERROR
            args = tuple(self.expect(a, ctx, NUMBER, "an argument of `random`") for a in node.args)
            self.scope.random_sites += 1
            return IR("random", NUMBER, args=args, value=self.scope.random_sites)
        if name == "date":
            if not 1 <= len(node.args) <= 2 or (len(node.args) == 2 and not (
                    isinstance(node.args[1], ast.Literal) and node.args[1].kind == "text")):
                self.scope.error("C0302", "`date` takes a time and an optional time zone", node.span,
                                 "wrong arguments", 'write `date(ts)` or `date(ts, "Asia/Shanghai")`')
                return ERROR
            when = self.expect(node.args[0], ctx, TIME, "the argument of `date`")
            tz = node.args[1].value if len(node.args) == 2 else "UTC"
            if not self.scope.time_zone(tz, node.args[1].span):
                return ERROR
            return IR("date", TEXT, args=(when,), value=tz)
        if name == "points":
            if len(node.args) > 1 or (node.args and not (isinstance(node.args[0], ast.Literal)
                                                          and node.args[0].kind == "text")):
                self.scope.error("C0302", "`points` takes the name of a currency", node.span, "not a currency name",
                                 "write `points()` for the default currency, or `points(\"xp\")`")
                return ERROR
            currency = node.args[0].value if node.args else "points"
            return IR("balance", NUMBER, args=(IR("field", TEXT, value=("user",)),), value=currency)
        if name not in _FUNCTIONS:
            self.scope.error("C0301", f"unknown function `{name}`", node.name_span, "no such function",
                             did_you_mean(name, _FUNCTIONS) or f"functions: {', '.join(sorted(_FUNCTIONS))}")
            return ERROR
        params, result = _FUNCTIONS[name]
        if len(node.args) != len(params):
            self.scope.error("C0302", f"`{name}` takes {len(params)} argument{'s' if len(params) > 1 else ''}, "
                             f"got {len(node.args)}", node.span, "wrong number of arguments",
                             f"write `{name}({', '.join(params)})`")
            return ERROR
        wanted = [(TEXT, LIST) if name == "len" else p for p in params]
        args = tuple(self.expect(a, ctx, w, f"the argument of `{name}`") for a, w in zip(node.args, wanted))
        return IR("call", result, args=args, value=name, text=name)

    def _aggregate(self, node: ast.Aggregate, ctx: Context) -> IR:
        scope, fn = self.scope, node.function
        if fn in _AGGREGATES_LATER:
            scope.error("C0900", f"aggregate `{fn}` is not supported yet", node.function_span,
                        "not supported yet", "streaks arrive with the incentives release")
            return ERROR
        allowed, needs_of = _AGGREGATE_FORMS[fn]
        q = node.query
        types = self.event_types(q.event_types)
        if types is None:
            return ERROR
        inner = Context(types, ctx.where)
        of = None
        if node.of is not None and needs_of is False:
            scope.error("C0211", f"`{fn}` takes no `… of`", node.of.span, f"not used by {fn}",
                        f"write `{fn}(message where … by user within 10m)`")
        elif node.of is not None:
            of = self.expect(node.of, inner, NUMBER if fn == "sum" else (TEXT if needs_of is None else (TEXT, NUMBER, BOOL)),
                             f"the value `{fn}` reads")
        elif needs_of:
            scope.error("C0214", f"`{fn}` needs the field it reads", node.function_span, "which field?",
                        f"write e.g. `{fn}({'amount' if fn == 'sum' else 'channel'} of message by user within 1h)`")
            return ERROR
        elif needs_of is None:              # repeats / similar read the text by default
            of = self.check(ast.Path(node.span, ("text",)), inner)
        filt = self.expect(q.where, inner, BOOL, "a `where` condition") if q.where is not None else None
        keys, key_irs, window, threshold = [], [], None, None
        cadence, tz, grace = "daily", "UTC", 0
        for opt in q.options:
            if opt.kind not in allowed:
                scope.error("C0211", f"`{opt.kind}` does not apply to `{fn}`", opt.span, f"not used by {fn}",
                            f"`{fn}` takes " + ", ".join(f"`{a} …`" for a in sorted(allowed)) + " after `where …`")
            elif opt.kind == "by":
                for k in opt.keys:
                    counted, current = self.key(k, inner), self.key(k, ctx)
                    if ERROR not in (counted, current):
                        keys.append(counted)
                        key_irs.append(current)
            elif opt.kind in ("daily", "weekly"):
                cadence = opt.kind
            elif opt.kind == "tz":
                tz = opt.text
                scope.time_zone(tz, opt.span)
            elif opt.kind == "grace":
                grace = int(opt.number)
            elif opt.kind == "within" and fn == "active_days" and opt.duration.seconds % 86400:
                scope.error("C0212", "`active_days` counts whole calendar days", opt.span, "not whole days",
                            "write e.g. `within 7d`: today and the six days before")
            elif opt.kind == "within":
                window = int(round(opt.duration.seconds * 1_000_000))
                if window <= 0:
                    scope.error("C0212", "a window must be longer than zero", opt.span, "empty window",
                                "write a positive duration such as `10m`")
            else:
                threshold = opt.number
                if not 0 < threshold <= 1:
                    scope.error("C0215", "`above` takes a similarity between 0 and 1", opt.span, "out of range",
                                "write e.g. `above 0.8`: 1 is identical text")
        period = None
        if fn in ("streak", "best_streak"):
            period = (cadence, tz, grace)
        elif fn == "active_days":
            if window is None:
                scope.error("C0214", "`active_days` needs how many days it looks back", node.function_span,
                            "over what days?", "write e.g. `active_days(checkin by user within 7d) >= 5`")
                return ERROR
            period = ("daily", tz, window // 86_400_000_000)
            window = None
        if fn == "rate" and window is None:
            scope.error("C0214", "`rate` needs a window", node.function_span, "over what time?",
                        "write e.g. `rate(message by user within 10m)`: events per minute over the last 10 minutes")
            return ERROR
        if fn in ("repeats", "similar") and window is None:
            scope.error("C0214", f"`{fn}` needs a window", node.function_span, "over what time?",
                        f"write e.g. `{fn}(message by user within 10m{' above 0.8' if fn == 'similar' else ''})`")
            return ERROR
        if fn == "similar" and threshold is None:
            scope.error("C0214", "`similar` needs a threshold", node.function_span, "how similar?",
                        "write e.g. `similar(message by user within 10m above 0.8)`")
            return ERROR
        if ERROR in (filt, of):
            return ERROR
        spec = AggregateSpec(fn, types, filt, tuple(keys), window, of, threshold, period, source=source_text(scope, node))
        scope.aggregates.setdefault(spec.fingerprint, spec)
        # The value read on the current event for repeats / similar: the same `of`, read here.
        current_of = ()
        if fn in ("repeats", "similar"):
            current_of = (self.check(node.of or ast.Path(node.span, ("text",)), ctx),)
            if current_of[0] is ERROR:
                return ERROR
        return IR("agg", _AGGREGATE_TYPES[fn], args=tuple(key_irs) + current_of, value=spec, text=spec.source)

    def key(self, node, ctx: Context) -> IR:
        """A grouping key: an event field, or `normalize(field)` / `lower(field)`."""
        ir = self.check(node, ctx)
        if ir is ERROR:
            return ERROR
        if ir.op == "field" or (ir.op == "call" and ir.value in _KEY_FUNCTIONS and ir.args[0].op == "field"):
            return ir
        self.scope.error("C0801", "this cannot be a key", node.span, "not an event field",
                         "group by an event field such as `user`, `channel` or `target`, or by `normalize(text)`")
        return ERROR

    def event_types(self, names) -> tuple[str, ...] | None:
        ok = True
        for name, span in names:
            if name not in self.scope.schema.events:
                ok = False
                self.scope.error("C0201", f"unknown event type `{name}`", span, "no such event type",
                                 did_you_mean(name, self.scope.schema.events) or
                                 f"declare it with `event {name} {{ field: text }}`")
        return tuple(dict.fromkeys(n for n, _ in names)) if ok else None


def _arith_type(op: str, a: str, b: str) -> str | None:
    if ANY in (a, b):
        return NUMBER if (a in (ANY, NUMBER) and b in (ANY, NUMBER)) else (a if b == ANY else b)
    table = {
        ("+", NUMBER, NUMBER): NUMBER, ("-", NUMBER, NUMBER): NUMBER, ("*", NUMBER, NUMBER): NUMBER,
        ("/", NUMBER, NUMBER): NUMBER, ("%", NUMBER, NUMBER): NUMBER, ("+", TEXT, TEXT): TEXT,
        ("+", DURATION, DURATION): DURATION, ("-", DURATION, DURATION): DURATION,
        ("*", DURATION, NUMBER): DURATION, ("*", NUMBER, DURATION): DURATION, ("/", DURATION, NUMBER): DURATION,
        ("/", DURATION, DURATION): NUMBER,
        ("+", TIME, DURATION): TIME, ("-", TIME, DURATION): TIME, ("-", TIME, TIME): DURATION,
    }
    return table.get((op, a, b))


def _article(name: str) -> str:
    if name == BOOL:
        return "a condition (true or false)"
    return ("an " if name[:1] in "aeiou" else "a ") + name


def _type_help(actual: str, wanted) -> str:
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    if DURATION in wanted and actual == NUMBER:
        return "add a unit: `30s`, `10m`, `1h`, `7d`"
    if BOOL in wanted:
        return "write a condition, e.g. `count(…) >= 3` or `text contains \"…\"`"
    if TEXT in wanted and actual in (NUMBER, DURATION):
        return 'put the value in double quotes: "…"'
    if LIST in wanted:
        return 'write a list such as `["a", "b"]` or name a `words` list'
    return ""


def _compare_help(a: str, b: str) -> str:
    if {a, b} == {NUMBER, DURATION}:
        return "add a unit to the number: `30s`, `10m`, `1h`"
    if {a, b} == {NUMBER, TEXT}:
        return "quote both sides, or compare numbers with numbers"
    return "compare values of the same kind"

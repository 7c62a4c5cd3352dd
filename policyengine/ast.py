"""The policy AST: our own dataclasses, every node carrying the span it came from.

Lark types never leave `policyengine.syntax`; everything after parsing works on these.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from policyengine.diagnostics.span import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


# ---- expressions ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Path(Node):
    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object          # str, int, float, bool
    kind: str              # "text" | "number" | "bool"


@dataclass(frozen=True, slots=True)
class Duration(Node):
    seconds: float
    text: str


@dataclass(frozen=True, slots=True)
class Regex(Node):
    pattern: str
    flags: str


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: "Expr"


@dataclass(frozen=True, slots=True)
class Negate(Node):
    operand: "Expr"


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str                # "and" | "or"
    operands: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Arith(Node):
    op: str                # + - * / %
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str                # == != < <= > >=
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True, slots=True)
class Predicate(Node):
    """A word operator: in, not in, contains (any/all), starts with, ends with, has (any/all/label)."""
    op: str
    left: "Expr"
    right: "Expr"
    op_span: Span


@dataclass(frozen=True, slots=True)
class Matches(Node):
    subject: "Expr"
    regex: Regex


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    name_span: Span
    args: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class QueryOption(Node):
    kind: str              # by | within | for | daily | weekly | tz | since | above | decays | grace
    keys: tuple["Expr", ...] = ()
    duration: Duration | None = None
    text: str | None = None
    number: float | None = None
    event_types: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True, slots=True)
class Query(Node):
    event_types: tuple[tuple[str, Span], ...]
    where: "Expr | None"
    options: tuple[QueryOption, ...]


@dataclass(frozen=True, slots=True)
class Aggregate(Node):
    function: str          # count | sum | distinct | rate | repeats | streak
    function_span: Span
    of: Path | None
    query: Query


Expr = (Path | Literal | Duration | Regex | ListExpr | Not | Negate | BoolOp | Arith
        | Compare | Predicate | Matches | Call | Aggregate)


# ---- actions -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Action(Node):
    name: str
    name_span: Span
    args: tuple[Expr, ...]
    has_parens: bool
    then: tuple[str, Span] | None = None      # `mute(1h) then unmute`


@dataclass(frozen=True, slots=True)
class OffenseAction(Node):
    category: str


@dataclass(frozen=True, slots=True)
class StopAction(Node):
    pass


AnyAction = Action | OffenseAction | StopAction


# ---- rules and top-level items --------------------------------------------
@dataclass(frozen=True, slots=True)
class Trigger(Node):
    event_types: tuple[tuple[str, Span], ...]
    absence: Query | None = None


@dataclass(frozen=True, slots=True)
class Clause(Node):
    kind: str              # for | when | unless | do | reason | once | cooldown
    expr: Expr | None = None
    actions: tuple[AnyAction, ...] = ()
    text: str | None = None
    text_span: Span | None = None
    duration: Duration | None = None
    keys: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleOption(Node):
    kind: str              # priority | shadow | sample
    value: float = 0
    keys: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule(Node):
    name: str
    name_span: Span
    description: str | None
    options: tuple[RuleOption, ...]
    trigger: Trigger
    where: Expr | None
    clauses: tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class PolicyHeader(Node):
    name: str
    name_span: Span
    title: str | None


@dataclass(frozen=True, slots=True)
class LetDef(Node):
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True, slots=True)
class WordsDef(Node):
    name: str
    name_span: Span
    items: ListExpr | None
    file: str | None
    file_span: Span | None


@dataclass(frozen=True, slots=True)
class FieldDecl(Node):
    name: str
    type_name: str
    type_span: Span


@dataclass(frozen=True, slots=True)
class EventDef(Node):
    name: str
    name_span: Span
    fields: tuple[FieldDecl, ...]


@dataclass(frozen=True, slots=True)
class ExemptDef(Node):
    condition: Expr


@dataclass(frozen=True, slots=True)
class Step(Node):
    """`3 => mute(1d)` or `4+ => ban` in a ladder or a score."""
    number: int
    plus: bool
    actions: tuple[AnyAction, ...]


@dataclass(frozen=True, slots=True)
class Ladder(Node):
    name: str
    name_span: Span
    categories: tuple[tuple[str, Span], ...]
    options: tuple[QueryOption, ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Score(Node):
    name: str
    name_span: Span
    categories: tuple[tuple[str, Span], ...]
    options: tuple[QueryOption, ...]
    weights: tuple[tuple[str, Span, float], ...]
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class PointsDef(Node):
    """`points reputation { cap 200 per day except accepted  floor 1  decays 1 per 1d  tz "UTC" }`."""
    name: str
    name_span: Span
    cap: float | None = None
    cap_period: str | None = None
    cap_period_span: Span | None = None
    cap_exempt: tuple[tuple[str, Span], ...] = ()
    floor: float | None = None
    decay: float | None = None
    decay_per: Duration | None = None
    tz: str | None = None
    tz_span: Span | None = None


@dataclass(frozen=True, slots=True)
class LevelEntry(Node):
    threshold: float
    name: str
    actions: tuple[AnyAction, ...]


@dataclass(frozen=True, slots=True)
class LevelsDef(Node):
    name: str | None
    currency: str
    currency_span: Span
    mode: str | None               # replace | stack (role rewards)
    mode_span: Span | None
    entries: tuple[LevelEntry, ...] = ()
    formula: "Expr | None" = None
    formula_name: str | None = None


@dataclass(frozen=True, slots=True)
class PeriodAward(Node):
    top: int
    metric: "Expr | None"          # an aggregate, or None for points
    currency: str | None           # `points "xp"`
    among: tuple[str, Span] | None
    actions: tuple[AnyAction, ...]


@dataclass(frozen=True, slots=True)
class EveryDef(Node):
    period: str
    period_span: Span
    tz: str | None
    awards: tuple[PeriodAward, ...]


@dataclass(frozen=True, slots=True)
class RoleDef(Node):
    role: str
    role_span: Span
    requires: tuple["Expr", ...]
    keep_percent: float | None
    grace: Duration | None
    title: str | None


@dataclass(frozen=True, slots=True)
class Unsupported(Node):
    """An item the language has a place for but this release does not evaluate yet."""
    construct: str         # ladder | levels | every


Item = (PolicyHeader | LetDef | WordsDef | EventDef | ExemptDef | Rule | Ladder | Score | PointsDef | LevelsDef
        | EveryDef | RoleDef | Unsupported)


@dataclass(slots=True)
class Module:
    path: str
    source: str
    items: list[Item] = field(default_factory=list)
    broken_names: set[str] = field(default_factory=set)   # definitions whose text did not parse

"""The policy AST: our own node classes, every node carrying the span it came from.

Lark types never leave `policyengine.syntax`; everything after parsing works on these.

Nodes are frozen msgspec Structs rather than dataclasses for start-up's sake: making 41
frozen dataclasses took 60 ms of every command's start (each generated method is compiled from
source), making the Structs takes under 1 ms. They behave alike here: keyword or positional
construction, equality and hashing by fields, immutable, a readable repr.
"""
from __future__ import annotations

from msgspec import Struct, field

from policyengine.diagnostics.span import Span


class Node(Struct, frozen=True):
    span: Span


# ---- expressions ---------------------------------------------------------
class Path(Node):
    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


class Literal(Node):
    value: object          # str, int, float, bool
    kind: str              # "text" | "number" | "bool"


class Duration(Node):
    seconds: float
    text: str


class Regex(Node):
    pattern: str
    flags: str


class ListExpr(Node):
    items: tuple["Expr", ...]


class Not(Node):
    operand: "Expr"


class Negate(Node):
    operand: "Expr"


class BoolOp(Node):
    op: str                # "and" | "or"
    operands: tuple["Expr", ...]


class Arith(Node):
    op: str                # + - * / %
    left: "Expr"
    right: "Expr"


class Compare(Node):
    op: str                # == != < <= > >=
    left: "Expr"
    right: "Expr"


class Predicate(Node):
    """A word operator: in, not in, contains (any/all), starts with, ends with, has (any/all/label)."""
    op: str
    left: "Expr"
    right: "Expr"
    op_span: Span


class Matches(Node):
    subject: "Expr"
    regex: Regex


class Call(Node):
    name: str
    name_span: Span
    args: tuple["Expr", ...]


class QueryOption(Node):
    kind: str              # by | within | for | daily | weekly | tz | since | above | decays | grace
    keys: tuple["Expr", ...] = ()
    duration: Duration | None = None
    text: str | None = None
    number: float | None = None
    event_types: tuple[tuple[str, Span], ...] = ()


class Query(Node):
    event_types: tuple[tuple[str, Span], ...]
    where: "Expr | None"
    options: tuple[QueryOption, ...]


class Aggregate(Node):
    function: str          # count | sum | distinct | rate | repeats | streak
    function_span: Span
    of: Path | None
    query: Query


Expr = (Path | Literal | Duration | Regex | ListExpr | Not | Negate | BoolOp | Arith
        | Compare | Predicate | Matches | Call | Aggregate)


# ---- actions -------------------------------------------------------------
class Action(Node):
    name: str
    name_span: Span
    args: tuple[Expr, ...]
    has_parens: bool
    then: tuple[str, Span] | None = None      # `mute(1h) then unmute`


class OffenseAction(Node):
    category: str


class StopAction(Node):
    pass


AnyAction = Action | OffenseAction | StopAction


# ---- rules and top-level items --------------------------------------------
class Trigger(Node):
    event_types: tuple[tuple[str, Span], ...]
    absence: Query | None = None


class Clause(Node):
    kind: str              # for | when | unless | do | reason | once | cooldown
    expr: Expr | None = None
    actions: tuple[AnyAction, ...] = ()
    text: str | None = None
    text_span: Span | None = None
    duration: Duration | None = None
    keys: tuple[Path, ...] = ()


class RuleOption(Node):
    kind: str              # priority | shadow | sample
    value: float = 0
    keys: tuple[Path, ...] = ()


class Rule(Node):
    name: str
    name_span: Span
    description: str | None
    options: tuple[RuleOption, ...]
    trigger: Trigger
    where: Expr | None
    clauses: tuple[Clause, ...]


class PolicyHeader(Node):
    name: str
    name_span: Span
    title: str | None


class LetDef(Node):
    name: str
    name_span: Span
    value: Expr


class WordsDef(Node):
    name: str
    name_span: Span
    items: ListExpr | None
    file: str | None
    file_span: Span | None


class FieldDecl(Node):
    name: str
    type_name: str
    type_span: Span


class EventDef(Node):
    name: str
    name_span: Span
    fields: tuple[FieldDecl, ...]


class ExemptDef(Node):
    condition: Expr


class Step(Node):
    """`3 => mute(1d)` or `4+ => ban` in a ladder or a score."""
    number: int
    plus: bool
    actions: tuple[AnyAction, ...]


class Ladder(Node):
    name: str
    name_span: Span
    categories: tuple[tuple[str, Span], ...]
    options: tuple[QueryOption, ...]
    steps: tuple[Step, ...]


class Score(Node):
    name: str
    name_span: Span
    categories: tuple[tuple[str, Span], ...]
    options: tuple[QueryOption, ...]
    weights: tuple[tuple[str, Span, float], ...]
    steps: tuple[Step, ...]


class PointsDef(Node):
    """`points reputation { cap 200 per day except accepted  floor 1  decays 1 per 1d  tz "UTC" }`."""
    name: str
    name_span: Span
    cap: int | float | None = None
    cap_period: str | None = None
    cap_period_span: Span | None = None
    cap_exempt: tuple[tuple[str, Span], ...] = ()
    floor: int | float | None = None
    decay: float | None = None
    decay_per: Duration | None = None
    tz: str | None = None
    tz_span: Span | None = None


class LevelEntry(Node):
    threshold: int | float                 # as written: 100 stays an int
    name: str
    actions: tuple[AnyAction, ...]


class LevelsDef(Node):
    name: str | None
    currency: str
    currency_span: Span
    mode: str | None               # replace | stack (role rewards)
    mode_span: Span | None
    entries: tuple[LevelEntry, ...] = ()
    formula: "Expr | None" = None
    formula_name: str | None = None


class PeriodAward(Node):
    top: int
    metric: "Expr | None"          # an aggregate, or None for points
    currency: str | None           # `points "xp"`
    among: tuple[str, Span] | None
    actions: tuple[AnyAction, ...]


class EveryDef(Node):
    period: str
    period_span: Span
    tz: str | None
    awards: tuple[PeriodAward, ...]


class RoleDef(Node):
    role: str
    role_span: Span
    requires: tuple["Expr", ...]
    keep_percent: float | None
    grace: Duration | None
    title: str | None


class Unsupported(Node):
    """An item the language has a place for but this release does not evaluate yet."""
    construct: str         # ladder | levels | every


Item = (PolicyHeader | LetDef | WordsDef | EventDef | ExemptDef | Rule | Ladder | Score | PointsDef | LevelsDef
        | EveryDef | RoleDef | Unsupported)


class Module(Struct):
    path: str
    source: str
    items: list[Item] = field(default_factory=list)
    broken_names: set[str] = field(default_factory=set)   # definitions whose text did not parse

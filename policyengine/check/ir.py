"""The checked, resolved expression form the compiler consumes.

One small node type: `op` names the operation, `args` its operands, `type` its checked
type. Names are resolved (lets expanded, word lists inlined), so the compiler never
looks anything up.
"""
from __future__ import annotations

from dataclasses import dataclass, field


# Dataclasses, unlike the AST's Structs: equality must leave out the source text (`compare=False`),
# so equal expressions written differently share memos and state.
@dataclass(frozen=True, slots=True)
class IR:
    op: str                      # field | const | and | or | not | neg | arith | cmp | pred | match
                                 # | call | agg | has_label | labels
    type: str
    args: tuple = ()
    value: object = None         # op-specific payload: path, constant, operator, pattern, AggregateSpec
    text: str = field(default="", compare=False)   # the source text, for explanations and messages

    def walk(self):
        yield self
        for a in self.args:
            yield from a.walk()


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """One stateful aggregate; equal specs share state, whichever rules name them."""
    function: str                # count | sum | distinct | rate | repeats | similar | elapsed
    event_types: tuple[str, ...]
    filter: IR | None
    keys: tuple[IR, ...]         # read from the counted event
    window_us: int | None        # None: all time
    of: IR | None = None         # sum / distinct / repeats / similar: the value aggregated
    threshold: float | None = None   # similar: the least similarity that counts
    period: tuple | None = None  # streak / best_streak / active_days: (daily|weekly, time zone, grace or days)
    source: str = field(default="", compare=False)

    @property
    def fingerprint(self) -> str:
        return canonical_aggregate(self)


def canonical(node: IR | None) -> str:
    """A stable text for an expression: equal meaning, equal text (spacing and let names aside)."""
    if node is None:
        return "-"
    if node.op == "agg":
        return canonical_aggregate(node.value)
    inner = ",".join(canonical(a) for a in node.args)
    return f"{node.op}[{node.value!r}]({inner})"


def canonical_aggregate(spec: AggregateSpec) -> str:
    keys = ";".join(canonical(k) for k in spec.keys)
    return (f"{spec.function}({canonical(spec.of)} of {'|'.join(spec.event_types)} where {canonical(spec.filter)}"
            f" by {keys} within {spec.window_us} above {spec.threshold} per {spec.period})")

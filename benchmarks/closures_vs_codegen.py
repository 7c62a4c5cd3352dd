"""Why generated source: the same checked rule as a closure tree and as generated Python.

    python -m benchmarks.closures_vs_codegen

The closure evaluator below is the natural alternative: one Python closure per IR node.
"""
from __future__ import annotations

import time

from benchmarks.loggen import generate
from policyengine.check.ir import IR
from policyengine.engine import Engine
from policyengine.events.decode import EventDecoder
from policyengine.runtime import helpers

POLICY = '''
let AD = text contains any ["加微信", "promo.example/"] or text matches /vx:\\s*\\w+/i
rule r { on message where AD and not (user.roles has any ["moderator"]) and len(text) > 3
         when count(message where AD by user within 10m) >= 3 do mute(1h) cooldown 1h per user }
'''


def closure(ir: IR):
    """IR → a Python closure computing it from (event, ts, folded text cache)."""
    op = ir.op
    if op == "field":
        name = ir.value[0]
        return lambda ev, ts: ev.get(name)
    if op == "const":
        value = ir.value
        return lambda ev, ts: value
    if op == "list":
        items = tuple(a.value for a in ir.args)
        return lambda ev, ts: items
    if op in ("and", "or"):
        parts = [closure(a) for a in ir.args]
        if op == "and":
            return lambda ev, ts: all(p(ev, ts) for p in parts)
        return lambda ev, ts: any(p(ev, ts) for p in parts)
    if op == "not":
        inner = closure(ir.args[0])
        return lambda ev, ts: not inner(ev, ts)
    if op == "cmp":
        a, b = closure(ir.args[0]), closure(ir.args[1])
        sym = ir.value
        return lambda ev, ts: helpers.compare(sym, a(ev, ts), b(ev, ts))
    if op == "call":
        args = [closure(a) for a in ir.args]
        name = ir.value
        return lambda ev, ts: helpers.call(name, *(f(ev, ts) for f in args))
    if op == "pred":
        a, b = closure(ir.args[0]), closure(ir.args[1])
        fn = {"contains any": helpers.contains_any, "has any": helpers.has_any, "contains": helpers.contains}[ir.value]
        return lambda ev, ts: fn(a(ev, ts), b(ev, ts))
    if op == "match":
        import re
        rx = re.compile(*ir.value)
        subject = closure(ir.args[0])
        return lambda ev, ts: isinstance(s := subject(ev, ts), str) and rx.search(s) is not None
    if op == "agg":
        table: dict = {}
        spec = ir.value
        key = closure(ir.args[0])
        filt = closure(spec.filter)

        def agg(ev, ts):
            k = key(ev, ts)
            if filt(ev, ts):
                table.setdefault(k, __import__("collections").deque()).append(ts)
            return helpers.window_count(table, k, ts, spec.window_us)
        return agg
    raise NotImplementedError(op)


def main() -> None:
    engine = Engine.from_text(POLICY)
    events = [e for e in generate(100_000, seed=3)]
    decoder = EventDecoder({})
    decoded = [decoder.validate(e) for e in events]
    cond = closure(engine.compiled.rules[0].condition)
    t = time.perf_counter()
    for e, ts in zip(events, decoded):
        if e["type"] == "message":
            cond(e, ts)
    closures = time.perf_counter() - t
    ev = engine.evaluator
    t = time.perf_counter()
    for e, ts in zip(events, decoded):
        ev.process(e, ts)
    generated = time.perf_counter() - t
    print(f"closure tree:     {closures / len(events) * 1e6:.2f} µs/event")
    print(f"generated source: {generated / len(events) * 1e6:.2f} µs/event (includes the count update and actions)")


if __name__ == "__main__":
    main()

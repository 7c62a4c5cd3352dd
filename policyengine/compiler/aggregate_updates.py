"""An aggregate's update, as the handler of its event type writes it: a count, window, sum,
distinct, streak or active days kept up to date before the rules read it, several at once where
one call serves them (runtime/updates.py)."""
from __future__ import annotations

from policyengine.compiler.expressions import ExprEmitter, TableNames, memoizable, normalized_text
from policyengine.compiler.writer import CodeWriter


_ALWAYS_PRESENT = (("type",), ("user",))
BATCH_AT_LEAST = 2      # updates a handler makes on every event before one call (runtime/updates.py) serves them


def batch_op(spec) -> str | None:
    """The runtime/updates.py op of an update made on every event of the type with no test before
    it and read by the rules from what it hands back, or None."""
    if spec.filter is not None or any(k.op == "field" and k.value not in _ALWAYS_PRESENT for k in spec.keys):
        return None
    fn, windowed = spec.function, spec.window_us is not None
    if fn in ("count", "rate"):
        return "count_window" if windowed else "count" if fn == "count" else None
    if fn in ("repeats", "distinct"):
        return fn if windowed else None
    return "active_days" if fn == "active_days" else None


def batched_updates(w: CodeWriter, aggregates, emit: ExprEmitter, tables: TableNames) -> set[int]:
    """The updates `batch_op` takes, written as one call of a runtime/updates.Updates when there
    are BATCH_AT_LEAST of them (five calls a message on the community pack, each loading its table,
    kind and width), first: each owns its table, so none reads what another writes. Their reads go
    into the locals `aggregate_update` would have set (`cntN`, `winN`). The indexes it wrote."""
    chosen = [(i, spec, op) for i, spec in aggregates if (op := batch_op(spec)) is not None]
    if len(chosen) < BATCH_AT_LEAST:
        return set()
    args: list[str] = ["ev", "ts"]

    def position(code: str) -> int:
        if code not in args:
            args.append(code)
        return args.index(code)
    steps, reads = [], []
    for i, spec, op in chosen:
        table = tables.aggregate(spec.fingerprint)
        key = emit.key(spec.keys)
        wanted, value, width = None, -1, spec.window_us
        if op == "repeats":
            wanted = emit.value(normalized_text(spec.of))
            value = position(wanted)
        elif op == "distinct":
            value = position(emit.value(spec.of))
        elif op == "active_days":
            value, width = emit.period_of(spec)          # the calendar's function, called by the step with ts
        steps.append(f"({op!r}, {table}, {position(key)}, {value}, {width!r}, {i})")
        read = emit.local.read_at_add[(table, key, wanted)] = f"{'cnt' if op == 'count' else 'win'}{i}"
        reads.append(read)
    name = tables.batch("(" + ", ".join(steps) + ",)")
    w.line(f"{', '.join(reads)}, = {name}({', '.join(args)})")
    return {i for i, _, _ in chosen}


def aggregate_update(w: CodeWriter, index: int, spec, emit: ExprEmitter, tables: TableNames) -> None:
    table = tables.aggregate(spec.fingerprint)
    w.line("try:")
    w.depth = 2
    if spec.filter is not None:
        if not emit.local.guarded and memoizable(spec.filter):      # evaluated on every event of the type
            emit.local.unguarded_filters.add(spec.filter)
        w.line(f"if {emit.test(spec.filter)}:")
        w.indent()
    key = written_key = emit.key(spec.keys)
    if not key.isidentifier():       # a field already in a local is used as it is
        w.line(f"k = {key}")
        key = "k"
    # `type` and `user` are never missing: both decoders refuse an event without them.
    guard = " and ".join(f"{emit.value(k)} is not None" for k in spec.keys
                         if k.op == "field" and k.value not in _ALWAYS_PRESENT)
    if guard:
        w.line(f"if {guard}:")
        w.indent()
    fn, windowed = spec.function, spec.window_us is not None
    value = emit.value(spec.of) if spec.of is not None else None
    if fn == "repeats":
        value = emit.value(normalized_text(spec.of))
    # Updated on every event of the type, before any rule, with no filter: what the rules read of
    # it is read by the update, at the event's time, and left in a local (`cntN`, `winN`), keyed by
    # the key as reads write it (aggregate_read), not by the `k` alias.
    unfiltered = spec.filter is None and not guard and not emit.local.guarded

    def into(prefix: str, wanted: str | None = None) -> str:
        if not unfiltered:
            return ""
        name = emit.local.read_at_add[(table, written_key, wanted)] = f"{prefix}{index}"
        return f"{name} = "
    if fn in ("count", "rate") and windowed:
        w.line(f"{into('win')}add_count({table}, {key}, ts, {spec.window_us})")     # in C where it was built
    elif fn == "count":
        w.line(f"{into('cnt')}count_up({table}, {key})")                 # in C where it was built
    elif fn in ("repeats", "distinct") and windowed and unfiltered:
        w.line(f"{into('win', value if fn == 'repeats' else None)}add_read({table}, {key}, '{fn}', ts, {value}, "
               f"{spec.window_us})")
    elif fn == "sum":
        w.line(f"add_window({table}, {key}, 'sum', ts, v if (v := {value}).__class__ in (int, float) else None)"
               if windowed else f"add_sum({table}, {key}, {value})")
    elif fn == "repeats" or (fn == "distinct" and windowed):
        w.line(f"add_window({table}, {key}, '{fn}', ts, {value})")      # in C where it was built
    elif fn == "distinct":
        w.line(f"add_distinct({table}, {key}, {value})")
    elif fn == "similar":
        w.line(f"add_window({table}, {key}, 'similar', ts, similar_key({value}))")
    elif fn == "elapsed":
        w.line(f"add_elapsed({table}, {key}, ts, {emit.event_number()})")
    elif fn in ("streak", "best_streak", "active_days"):
        period, extra = emit.period_now(spec)
        if fn == "active_days":
            # One call in C where it was built: the community pack's referral rule keeps a member's
            # active days on every message.
            w.line(f"{into('win')}active_days_add_read({table}, {key}, {period}, {extra})")
        else:
            w.line(f"streak_add({table}, {key}, {period}, {extra})")
    w.caught(f"aggregate_failed({index}, exc, ev)")

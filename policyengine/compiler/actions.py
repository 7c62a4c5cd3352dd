"""Generated code for actions: each produces its decision, then applies its effect on state."""
from __future__ import annotations

from policyengine.check import CheckedAction
from policyengine.check.ir import IR
from policyengine.compiler.expressions import ExprEmitter
from policyengine.compiler.writer import CodeWriter
from policyengine.runtime.helpers import plain_number


def emit_actions(w: CodeWriter, actions, emit: ExprEmitter, names: str, who: str, event_id: str,
                 reason: str, source: str = "None", shadow: bool = False, why: str | None = None) -> None:
    """`names` is the generated text for (policy, rule) pool names, e.g. `P3, P4`; `source` the
    rule's name for point caps. A shadow rule's decisions are marked and change no state."""
    for action in actions:
        if shadow:
            if action.name != "offense":
                _one(w, action, emit, names, who, event_id, reason, shadow=True, why=why)
            continue
        if action.name == "offense":
            w.line(f"RT.offense({emit.value(action.args['category'])}, {who}, ev, ts, out)")
            continue
        if action.name == "award_points":
            _award(w, action, emit, names, who, event_id, reason, source, why)
            continue
        _one(w, action, emit, names, who, event_id, reason, why=why)


def _award(w: CodeWriter, action: CheckedAction, emit: ExprEmitter, names: str, who: str, event_id: str,
           reason: str, source: str, why: str | None = None) -> None:
    """Points go through the ledger (cap, floor); the decision carries what was really added."""
    amount = argument(action.args["points"], emit)
    given = action.args.get("currency")
    if why is None and (given is None or (isinstance(given, IR) and given.op == "const" and isinstance(given.value, str))):
        # The currency is known now: one call to a giver Rewards made for this rule (runtime/rewards.py).
        giver = emit.tables.giver(emit.pool.add(given.value if given is not None else "points"), source,
                                  names, given is not None)
        w.line(f"{giver}({who}, {amount}, ts, {event_id}, {reason}, ev, out, {emit.event_number()})")
        return
    currency = argument(given, emit) if given is not None else emit.pool.add("points")
    w.line(f"v_currency = {currency}")
    w.line(f"v_points, v_balance = REW.award(v_currency, {who}, {amount}, {source}, ts)")
    w.line("if v_points:")
    extra = "('currency', v_currency), " if given is not None else ""
    if why is not None:
        extra += f"('explain', {why}), "
    w.line(f"    out.append(decision(ts, {names}, {emit.pool.add('award_points')}, {who}, {event_id}, "
           f"(('points', {_plain('v_points')}), {extra}('balance', {_plain('v_balance')})), {reason}))")
    w.line(f"    REW.awarded(v_currency, {who}, v_points, v_balance, ev, ts, out)")


def _plain(name: str) -> str:
    """`plain_number(name)`, but an int (most awards) is already plain: no call."""
    return f"{name} if {name}.__class__ is int else plain_number({name})"


def _one(w: CodeWriter, action: CheckedAction, emit: ExprEmitter, names: str, who: str, event_id: str,
         reason: str, shadow: bool = False, why: str | None = None) -> None:
    fields: list[str] = []
    subject = who
    args = dict(action.args)
    if action.name == "delete":
        given = args.pop("message_id", None)
        fields.append(f"('message_id', {argument(given, emit) if given is not None else event_id})")
    if action.name == "notify":
        to = args.pop("to", None)
        if to is not None:
            fields.append(f"('to', {emit.value(to)})")
        else:
            subject = argument(args.pop("user"), emit)
    if action.channel_level:
        subject = "None"
        fields.append(f"('channel', {emit.value(IR('field', 'text', value=('channel',)))})")
    announce = "True" if args.pop("then", False) else "False"
    if shadow and action.name == "award_points":
        args.pop("currency", None)
    local_names: dict[str, str] = {}
    for field, value in args.items():
        if field in ("duration_s", "points") and isinstance(value, IR) and value.op == "const":
            text = repr(plain_number(value.value))        # worked out once, here
        elif field in ("duration_s", "points"):
            text = f"plain_number({argument(value, emit)})"
        else:
            text = argument(value, emit)
        var = f"v_{field}"
        w.line(f"{var} = {text}")
        local_names[field] = var
        if field != "reason":
            fields.append(f"({field!r}, {var})")
    reason_value = local_names.get("reason", reason)
    if shadow:
        fields.append("('shadow', True)")
    if why is not None:
        fields.append(f"('explain', {why})")
    w.line(f"out.append(decision(ts, {names}, {emit.pool.add(action.name)}, {subject}, {event_id}, "
           f"({', '.join(fields)}{',' if len(fields) == 1 else ''}), {reason_value}))")
    if shadow:
        return                                    # a shadow rule changes no state live rules read
    duration = local_names.get("duration_s", "None")
    if action.name == "label":
        w.line(f"set_label(LABELS, {subject}, v_label, ts, {duration})")
    elif action.name == "unlabel":
        w.line(f"remove_label(LABELS, {subject}, v_label)")
    elif action.name == "mute":
        w.line(f"RT.mute({subject}, ts, {duration}, {names}, {announce})")
    elif action.name == "unmute":
        w.line(f"RT.unmute({subject})")
    elif action.name == "ban":
        w.line(f"RT.ban({subject}, ts, {duration}, {names}, {announce})")
    elif action.name == "unban":
        w.line(f"RT.unban({subject})")
    elif action.name in ("award_badge", "revoke_badge"):
        w.line(f"REW.badge({subject}, v_badge, {action.name == 'award_badge'})")
    elif action.name == "set_title":
        w.line(f"REW.title({subject}, v_title)")


def argument(value, emit: ExprEmitter) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return template(value, emit)
    return emit.value(value)


def template(parts: tuple, emit: ExprEmitter) -> str:
    pieces = [emit.pool.add(p) if isinstance(p, str) else f"render({emit.value(p)})" for p in parts]
    if not pieces:
        return emit.pool.add("")
    if len(pieces) == 1:
        return pieces[0]
    return "''.join((" + ", ".join(pieces) + "))"

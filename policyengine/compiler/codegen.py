"""Lowered plan → Python source: one module whose `build()` returns the generated functions.

The generated text holds only identifiers, numbers and operator names: policy strings,
lists and regexes are pool entries (see writer.Pool).
"""
from __future__ import annotations

import re

from policyengine.check import CheckedRule
from policyengine.check.ir import IR
from policyengine.compiler.actions import emit_actions, template
from policyengine.compiler.aggregate_updates import aggregate_update, batched_updates
from policyengine.compiler.expressions import ExprEmitter, HandlerLocals, TableNames, never_raises
from policyengine.compiler.guards import guarded
from policyengine.compiler.loop import EVENT_NUMBER, record_loop
from policyengine.compiler.plan import Handler, Plan, by_member, guards_section, lapped_sections, updates_section
from policyengine.compiler.writer import CodeWriter, Pool
from policyengine.events.records import RecordField, record_fields
from policyengine.runtime.helpers import TEXT_FUNCTIONS, TRACKER_FIELDS
from policyengine.runtime.text import links_in

HELPERS = ("window_count", "add_count", "count_up", "replace_pair", "replace_pair_of", "pop_of", "member_seen", "cooldown_take", "has_label", "active_labels", "set_label", "remove_label",
           "get_path", "contains", "starts_with", "ends_with", "contains_any", "contains_all", "is_in", "has", "has_any",
           "has_all", "compare", "arith", "call", "render", "plain_number", "decision",
           "member_time", "first_message", "normalize", "seeded_random", "in_sample",
           "explain_compare", "explain_test", "fold_text", "starts_with_any", "folded_starts_with_any",
           "link_count_of")
AGGREGATE_HELPERS = ("add_window", "add_read", "add_sum", "add_distinct", "add_elapsed", "similar_key",
                     "window_sum", "window_distinct", "all_time_distinct", "window_repeats", "window_similar",
                     "elapsed", "streak_add", "streak_now", "streak_best", "active_days_now", "active_days_add_read",
                     "Updates", "FAILED")


def generate(plan: Plan, explain: bool = False, profile: bool = False) -> tuple[str, Pool, TableNames]:
    """With `explain`, each rule's decisions also carry the values its conditions tested; with
    `profile`, each rule first tells the profiler it starts (`eval --profile`)."""
    pool, tables = Pool(), TableNames(explain, profile)
    if profile:                          # LAP(n) laps row n of this list (runtime/profile.py names them)
        tables.laps = {section: n for n, section in enumerate(lapped_sections(plan))}
    # Bodies first: writing them fills the pool and the table names the header binds.
    handlers = [_handler_body(h, plan, pool, tables) for h in plan.handlers]
    bodies = [[f"def h{i}(ev, ts, out):"] + _prologue(local, pool, tables) + _numbered(local) + body
              + ["    return None"] for i, (local, body) in enumerate(handlers)]
    bodies += [_absence_function(i, plan, pool, tables) for i in plan.absence_rules]
    program = plan.program
    bodies += [_steps_function(f"L{i}", ladder, pool, tables, "n") for i, ladder in enumerate(program.ladders)]
    bodies += [_steps_function(f"S{i}", score, pool, tables, "step") for i, score in enumerate(program.scores)]
    bodies += [_indexed_actions(f"LV{i}", lv.policy, lv.name,
                                [(k, entry[2]) for k, entry in enumerate(lv.entries)], pool, tables)
               for i, lv in enumerate(program.levels)]
    bodies += [_indexed_actions(f"PA{i}_{j}", every.policy, f"every_{every.period}_{j + 1}", [(None, award.actions)],
                                pool, tables) for i, every in enumerate(program.everies)
               for j, award in enumerate(every.awards)]
    bodies += [_role_values(i, role, pool, tables) for i, role in enumerate(program.roles)]
    # Every field read is known now: the record variant of each handler reads the same fields
    # as attributes of a decoded record (events/records.py) instead of dict entries.
    tables.record = _record_layout(plan, tables.event_fields)
    if tables.record is not None:
        attrs = {f.name: f.attr for f in tables.record if f.kind != "raw"}     # raw JSON is decoded by `get`
        texts = {f.name for f in tables.record if f.kind == "text"}
        record_bodies = [_prologue(local, pool, tables, attrs, texts) + body for local, body in handlers]
        bodies += [[f"def r{i}(ev, ts, out):"] + _numbered(handlers[i][0]) + lines + ["    return None"]
                   for i, lines in enumerate(record_bodies)]
        # Messages first: the branch on event type is a chain of comparisons, and in a chat most events are messages.
        order = sorted(range(len(handlers)), key=lambda i: plan.handlers[i].event_type != "message")
        messages = [h for h in plan.handlers if h.event_type == "message"]
        bodies.append(record_loop({pool.add(plan.handlers[i].event_type): record_bodies[i] for i in order},
                                  bool(program.everies), plan.track_members, bool(program.roles),
                                  pool.add("message") if messages else None))
    type_names = [pool.add(h.event_type) for h in plan.handlers]
    w = CodeWriter()
    w.line("# Generated by policyengine from checked policies. Do not edit.")
    w.line("def build(_pool, _tables, _h, _agg, _rt):")
    w.indent()
    for name in HELPERS:
        w.line(f"{name} = _h.{name}")
    for name in AGGREGATE_HELPERS:
        w.line(f"{name} = _agg.{name}")
    w.line("LABELS = _tables['labels']")
    w.line("MEMBERS = _tables['members']")
    w.line("STORE = _tables['store']")
    w.line("INVITERS = STORE.inviters")      # the store never replaces it
    w.line("RT = _rt.timeline")
    w.line("REW = _rt.rewards")
    w.line("rule_failed = _rt.rule_failed")
    w.line("aggregate_failed = _rt.aggregate_failed")
    if tables.profile:
        w.line("LAP = _rt.lap")
    w.line("track_member = _h.track_member")
    if any(handler.boards for handler in plan.handlers):
        w.line("BOARD_ADD = _h.board_add")       # a count's or a sum's leaderboard, in C where built
        w.line("BOARDS = STORE.boards")          # the store never replaces it (state files fill it)
    w.line("StopRules = _h.StopRules")
    w.line("RouteDiverged = _h.RouteDiverged")
    for i in range(len(pool.values)):
        w.line(f"P{i} = _pool[{i}]")
    for (currency, source, names, named), name in tables.givers.items():
        w.line(f"{name} = REW.giver({currency}, {source}, {names}, {named})")
    for fingerprint, name in tables.aggregates.items():
        w.line(f"{name} = _tables['aggregates'][{plan.aggregate_index[fingerprint]}]")
    for steps, name in tables.updates.items():
        w.line(f"{name} = Updates({steps}, aggregate_failed, FAILED)")
    for i, rule in enumerate(plan.rules):
        if rule.once_keys is not None:
            w.line(f"ONCE{i} = _tables['once'][{i}]")
        if rule.cooldown_us is not None:
            w.line(f"COOL{i} = _tables['cooldown'][{i}]")
    # A silence's table, made now if the state has none: the store never replaces one, and most
    # messages re-arm one silence and end another (two lookups by rule index a message, before).
    for i in plan.absence_rules:
        w.line(f"AB{i} = STORE.absence_table({i}, {_silence_by_member(plan.rules[i].absence)})")
    for body in bodies:
        w.line()
        for line in body:
            w.line(line)
    w.line()
    w.line("return {")
    w.line("    'handlers': {" + ", ".join(f"{name}: h{i}" for i, name in enumerate(type_names)) + "},")
    if tables.record is not None:
        w.line("    'record_handlers': {" + ", ".join(f"{name}: r{i}" for i, name in enumerate(type_names)) + "},")
        w.line("    'record_loop': RUN,")
        w.line("    'share_loop': RUN_SHARED,")
    w.line("    'absence': {" + ", ".join(f"{i}: ab{i}" for i in plan.absence_rules) + "},")
    w.line("    'ladders': {" + ", ".join(f"{i}: L{i}" for i in range(len(program.ladders))) + "},")
    w.line("    'scores': {" + ", ".join(f"{i}: S{i}" for i in range(len(program.scores))) + "},")
    w.line("    'levels': {" + ", ".join(f"{i}: LV{i}" for i in range(len(program.levels))) + "},")
    w.line("    'awards': {" + ", ".join(f"({i}, {j}): PA{i}_{j}" for i, every in enumerate(program.everies)
                                       for j in range(len(every.awards))) + "},")
    w.line("    'roles': {" + ", ".join(f"{i}: RO{i}" for i in range(len(program.roles))) + "},")
    w.line("}")
    source = w.source()
    if most_free_variables(source) > FREE_VARIABLES_AT_MOST:
        source = names_as_globals(source)
    return source, pool, tables


# Past this many free variables in a function build defines that runs an event or a timer at a
# time, every name build binds becomes a global of the namespace bind() runs it in (a fresh one
# for each store), not a cell its functions close over: a call copies a function's free variables
# into its frame and clears them as it returns, one by one, and a handler of 100 rules reads
# 200-340 of them (0.3 µs a call: evaluation alone 1.9-2.2× one rule's, 1.1× this way). Not
# below: a global costs the record loop a few instructions more a read than a cell (+0.7 % an
# event on the community pack, whose such functions read at most 84).
FREE_VARIABLES_AT_MOST = 128


_BINDS = re.compile(r"    (?:def )?([A-Za-z_]\w*)(?: = |\()")      # a name build binds, at its top level
_NAME = re.compile(r"[A-Za-z_]\w*")


def _bound(lines: list[str]) -> set[str]:
    """The names build binds at its top level (assigned or defined)."""
    return {m.group(1) for line in lines if (m := _BINDS.match(line))}


def most_free_variables(source: str) -> int:
    """About the most free variables a function build defines closes over, of those called an
    event or a timer at a time (not the record loops, called once a stretch of lines): the names
    build binds that the function's lines mention (read from the source, not compiled, which for
    100 rules cost a second 68 ms compile; a name only in a string or shadowed by a local counts
    too, which can only move a program over the line that is near it)."""
    lines = source.split("\n")
    bound = _bound(lines)
    most, used = 0, None
    for line in lines:
        if line.startswith("    def "):
            most = max(most, len(used)) if used is not None else most
            used = None if line.startswith("    def RUN") else set()
        elif used is not None and line.startswith("        "):
            used.update(name for name in _NAME.findall(line) if name in bound)
    return max(most, len(used)) if used is not None else most


def names_as_globals(source: str) -> str:
    """`source` with every name its build binds (assigned or defined at its top level) declared
    global there."""
    lines = source.split("\n")
    bound = sorted(_bound(lines))
    start = next(i for i, line in enumerate(lines) if line.startswith("def build("))
    return "\n".join(lines[:start + 1] + ["    global " + ", ".join(bound)] + lines[start + 1:])


def _record_layout(plan: Plan, read: set[str]) -> tuple[RecordField, ...] | None:
    """The fields a decoded record holds: every field a generated function or the runtime reads,
    typed as the general decoder checks them. None when one field has different types on
    different event types: a record type checks a field one way, so such programs take dicts."""
    kinds: dict[str, str] = {}
    for fields in plan.field_types.values():
        for name, kind in fields.items():
            if kinds.setdefault(name, kind) != kind:
                return None
    for name in read:
        kinds.setdefault(name, "raw")
    if plan.track_members:
        for name in TRACKER_FIELDS:
            kinds.setdefault(name, "raw")
    return record_fields(kinds)


def _prologue(local: HandlerLocals, pool: Pool, tables: TableNames, record: dict[str, str] | None = None,
              texts: set[str] = frozenset()) -> list[str]:
    """Read each event field once. `record`: field → attribute, for a handler that takes a decoded
    record instead of a dict; its attributes are generated names, never policy text. `texts`: the
    record's fields that hold a str or None (msgspec checked them)."""
    lines = []
    for path, name in local.fields.items():
        tables.event_fields.add(path[0])
        if record is not None and len(path) == 1 and path[0] in record:
            lines.append(f"    {name} = ev.{record[path[0]]}")
        elif len(path) == 1:
            lines.append(f"    {name} = ev.get({pool.add(path[0])})")
        elif record is not None:
            lines.append(f"    {name} = get_path(ev.get({pool.add(path[0])}), {pool.add(tuple(path[1:]))})")
        else:
            lines.append(f"    {name} = get_path(ev, {pool.add(tuple(path))})")
    for path, name in local.folded.items():
        field = local.fields[path]
        if record is not None and len(path) == 1 and path[0] in texts:
            lines.append(f"    {name} = fold_text({field})")        # a str, or None for None
        else:
            lines.append(f"    {name} = fold_text({field}) if {field}.__class__ is str else None")
    for path, name in local.normal.items():
        lines.append(f"    {name} = normalize({local.fields[path]})")
    for (function, path), name in local.calls.items():
        # The text functions take any value (None for what is not text): called directly, not
        # through `call`'s name lookup and argument checks (0.4 µs a message).
        field = local.fields[path]
        if function == "link_count":
            # link_count in one call: text without a link's hint holds none (0 without RE2, for
            # most messages), the rest is counted by RE2 (links_in: the hint is not scanned again).
            fn = pool.add(links_in, ("text function", "links_in"))
            lines.append(f"    {name} = link_count_of({field}, {fn})")
        else:
            fn = pool.add(TEXT_FUNCTIONS[function], ("text function", function))
            lines.append(f"    {name} = {fn}({field})")
    for name in local.memo.values():
        if name not in local.eager_code:
            lines.append(f"    {name} = None")
    for name, code in local.eager_code.items():
        lines.append(f"    {name} = {code}")          # a word test's code gives a bool
    return lines


def _numbered(local: HandlerLocals) -> list[str]:
    """A handler function's binding of the event's number, where its body reads it (the record
    loop, which inlines the body, holds the number under that name itself)."""
    return [f"    {EVENT_NUMBER} = STORE.events_seen"] if local.reads_event_number else []


def _handler_body(handler: Handler, plan: Plan, pool: Pool, tables: TableNames) -> tuple[HandlerLocals, list[str]]:
    """A handler's body and the fields it reads; `generate` puts a prologue reading them before it.
    Written twice: the first pass counts the pure tests used more than once, the second keeps each
    in a memo (expressions.HandlerLocals)."""
    counted, _ = _handler_pass(handler, plan, pool, tables, HandlerLocals())
    repeated = frozenset(ir for ir, n in counted.uses.items() if n > 1)
    eager = frozenset(ir for ir in repeated if ir in counted.unguarded_filters and never_raises(ir))
    return _handler_pass(handler, plan, pool, tables, HandlerLocals(repeated, eager))


def _handler_pass(handler: Handler, plan: Plan, pool: Pool, tables: TableNames,
                  local: HandlerLocals) -> tuple[HandlerLocals, list[str]]:
    local.in_handler = True
    emit = ExprEmitter(pool, tables, local)
    body = CodeWriter()
    body.depth = 1
    if tables.profile and (handler.aggregates or handler.boards or handler.arm or handler.disarm):
        # the handler's counts, windows, boards and silences: a row of the profile of their own
        body.line(f"LAP({tables.laps[updates_section(handler)]})")
    batched = batched_updates(body, handler.aggregates, emit, tables)
    guarded(body, [(spec.filter, lambda w, i=i, spec=spec: aggregate_update(w, i, spec, emit, tables))
                    for i, spec in handler.aggregates if i not in batched], emit, pool)
    for every_index, award_index, spec in handler.boards:
        _board_update(body, every_index, award_index, spec, emit)
    for rule_index in handler.arm:
        _absence_arm(body, plan.rules[rule_index], rule_index, emit, handler.event_type, arm=True)
    for rule_index in handler.disarm:
        _absence_arm(body, plan.rules[rule_index], rule_index, emit, handler.event_type, arm=False)
    local.rules_phase = True
    # with the profile, a guard's word test is a row of its own (else the rule before it pays)
    lap = f"LAP({tables.laps[guards_section(handler)]})" if tables.profile else None
    guarded(body, [(plan.rules[i].condition, lambda w, i=i: _rule(w, plan.rules[i], i, emit, pool))
                    for i in handler.rules], emit, pool, lap)
    return local, body.lines


_FACTS = 12


def _explanation(w: CodeWriter, rule: CheckedRule, emit: ExprEmitter, pool: Pool) -> None:
    """`why`: the rule and, for each comparison and test in its conditions, its source and value."""
    facts = []
    for node in (rule.condition.walk() if rule.condition is not None else ()):
        if node.op == "cmp" and node.text:
            left, right = node.args
            facts.append(f"explain_compare({pool.add(node.text)}, {emit.value(left)}, {node.value!r}, {emit.value(right)})")
        elif node.op in ("pred", "match", "has_label") and node.text:
            facts.append(f"explain_test({pool.add(node.text)}, {emit.test(node)})")
        if len(facts) >= _FACTS:
            break
    where = pool.add(f"{rule.file}:{rule.line}")
    w.line(f"why = {{{pool.add('rule')}: {where}, {pool.add('tested')}: [{', '.join(facts)}]}}")


def _board_update(w: CodeWriter, every: int, award: int, spec, emit: ExprEmitter) -> None:
    """A leaderboard counting events: add 1 (count) or the value (sum) to the keyed member's score."""
    w.line("try:")
    w.depth = 2
    if spec.filter is not None:
        w.line(f"if {emit.test(spec.filter)}:")
        w.indent()
    amount = "1" if spec.function == "count" else f"v if (v := {emit.value(spec.of)}).__class__ in (int, float) else 0"
    w.line(f"BOARD_ADD(STORE, BOARDS, ({every}, {award}), {emit.value(spec.keys[0])}, {amount})")
    w.caught("rule_failed(None, exc, ev)")


def _branch_function(signature: str, policy: str, rule: str, branches, pool: Pool, tables: TableNames,
                     explain=None) -> list[str]:
    """`def signature:` running the actions of the first branch whose test holds (a test of None
    always does). `explain(test)` gives the `explain` value for a branch when explaining."""
    local = HandlerLocals()
    emit = ExprEmitter(pool, tables, local)
    body = CodeWriter()
    body.depth = 1
    names = f"{pool.add(policy)}, {pool.add(rule)}"
    event_id = emit.value(IR("field", "text", value=("id",)))
    body.line("try:")
    body.line("    pass")
    first = True
    for test, actions in branches:
        body.depth = 2
        if test is not None:
            body.line(f"{'if' if first else 'elif'} {test}:")
            body.depth = 3
            first = False
        body.line("pass")
        why = explain(test) if (tables.explain and explain is not None) else None
        emit_actions(body, actions, emit, names, "member", event_id, "None", why=why)
    body.depth = 1
    body.line("except Exception as exc:")
    body.line("    rule_failed(None, exc, ev)")
    return [f"def {signature}:"] + _prologue(local, pool, tables) + body.lines + ["    return None"]


def _indexed_actions(name: str, policy: str, rule: str, branches, pool: Pool, tables: TableNames) -> list[str]:
    """`name(ev, ts, out, member, n)`: the actions of branch n (a level), or of the only branch."""
    tests = [(None if index is None else f"n == {index}", actions) for index, actions in branches]
    return _branch_function(f"{name}(ev, ts, out, member, n)", policy, rule, tests, pool, tables)


def _role_values(index: int, role, pool: Pool, tables: TableNames) -> list[str]:
    """`RO…(member, ev, ts)`: each requirement's value, measured for `member` (the key replaced)."""
    local = HandlerLocals()
    emit = ExprEmitter(pool, tables, local)
    member = IR("member_key", "text")
    values = []
    for value, _, _, _ in role.requirements:
        keyed = IR(value.op, value.type, args=tuple(member if a.op == "field" else a for a in value.args),
                   value=value.value, text=value.text)
        values.append(emit.value(keyed))
    return ([f"def RO{index}(member, ev, ts):"] + _prologue(local, pool, tables) +
            [f"    return ({', '.join(values)}{',' if len(values) == 1 else ''})"])


def _silence_by_member(spec) -> bool:
    """Silences keyed by the event's member alone, armed and ended (store.absence_table)."""
    return by_member(spec.keys) and by_member(spec.since_keys or spec.keys)


def _absence_arm(w: CodeWriter, rule: CheckedRule, index: int, emit: ExprEmitter, etype: str, arm: bool) -> None:
    spec = rule.absence
    arming_since = arm and spec.since_types
    keys = spec.since_keys if arming_since else spec.keys
    one = emit.value(keys[0]) if len(keys) == 1 else None
    # A silence by one field held in a local (by member, most often): its key `(f0,)` is made only
    # where it is needed (replace_pair_of, pop_of: a column of them is read by the member).
    by_one = one is not None and one.isidentifier()
    key = f"({one},)" if one is not None else emit.key(keys)
    w.line("try:")
    w.depth = 2
    if spec.filter is not None and not arming_since:
        w.line(f"if {emit.test(spec.filter)}:")
        w.indent()
    # Most messages re-arm and disarm a silence that is already there: that case is written out
    # here (Timeline.arm does the rest).
    if arm and by_one:
        w.line(f"if not replace_pair_of(AB{index}, {one}, ts + {spec.window_us}, {emit.event_number()}):")
        w.line(f"    RT.arm({index}, {key}, ts + {spec.window_us})")
    elif arm:
        w.line(f"k = {key}")
        w.line(f"if not replace_pair(AB{index}, k, ts + {spec.window_us}, {emit.event_number()}):")
        w.line(f"    RT.arm({index}, k, ts + {spec.window_us})")
    elif by_one:
        w.line(f"pop_of(AB{index}, {one})")
    else:
        w.line(f"AB{index}.pop({key}, None)")
    w.caught(f"rule_failed({index}, exc, ev)")


def _absence_function(index: int, plan: Plan, pool: Pool, tables: TableNames) -> list[str]:
    rule = plan.rules[index]
    local = HandlerLocals()
    emit = ExprEmitter(pool, tables, local)
    body = CodeWriter()
    body.depth = 1
    names = ", ".join(f"{pool.add(n)}: key[{i}]" for i, n in enumerate(rule.absence.key_names))
    body.line(f"ev = {{{pool.add('type')}: {pool.add('absence')}, {names}}}")
    _rule(body, rule, index, emit, pool)
    return [f"def ab{index}(key, ts, out):"] + body.lines[:1] + _prologue(local, pool, tables) + body.lines[1:] + ["    return None"]


def _steps_function(name: str, item, pool: Pool, tables: TableNames, selector: str) -> list[str]:
    """Ladder `L…(ev, ts, out, member, n)`: exact steps first, then the highest `n+` step reached.
    Score `S…(ev, ts, out, member, step, n)`: the highest threshold crossed; `n` is the score."""
    exact = [(f"{selector} == {n}", acts) for n, plus, acts in item.steps if not plus]
    open_ended = [(f"{selector} >= {n}", acts) for n, plus, acts in
                  sorted((s for s in item.steps if s[1]), key=lambda s: s[0], reverse=True)]
    kind = "ladder" if selector == "n" else "score"
    signature = f"{name}(ev, ts, out, member, n)" if selector == "n" else f"{name}(ev, ts, out, member, step, n)"

    def explain(test: str) -> str:
        return f"{{{pool.add(kind)}: {pool.add(item.name)}, {pool.add('step')}: {pool.add(test)}, {pool.add('value')}: n}}"
    return _branch_function(signature, item.policy, item.name, exact + open_ended, pool, tables, explain)


def _local(w: CodeWriter, name: str, code: str) -> str:
    """`code` as the rule's actions and gates read it: a local, a constant or None as it is (the
    points rule of the community pack copied the member into `kc` and None into `reason` for every
    award), anything else computed once into `name`."""
    if code.isidentifier():
        return code
    w.line(f"{name} = {code}")
    return name


def _rule(w: CodeWriter, rule: CheckedRule, index: int, emit: ExprEmitter, pool: Pool) -> None:
    w.line(f"# rule {index}")
    if emit.tables.profile:
        w.line(f"LAP({index})")             # the time from here to the next lap is this rule's
    w.line("try:")
    w.indent()
    # A rule about another member (e.g. `for target_user`) does not fire when that member is
    # missing. When finding them is a field or a dict lookup, that is tested before the
    # conditions, which change no state: the community pack's referral rule reads account age
    # and active days on every message, and few members were invited by anyone.
    member_first = rule.member is not None and (
        rule.member.op == "field" or (rule.member.op == "member" and rule.member.value == "invited_by"))
    if rule.condition is not None:
        present = f"{emit.value(rule.member)} is not None and (" if member_first else ""
        w.line(f"if {present}{emit.test(rule.condition)}{')' if member_first else ''}:")
        w.indent()
    gates = []
    if rule.member is not None and not (member_first and rule.condition is not None):
        gates.append(f"{emit.value(rule.member)} is not None")
    if rule.sample is not None:
        percent, keys = rule.sample
        gates.append(f"in_sample({pool.add(f'{rule.policy}/{rule.name}')}, {emit.key(keys)}, {percent!r})")
    once_key = cooldown_key = None
    if rule.once_keys is not None:
        once_key = _local(w, "ko", emit.key(rule.once_keys))
        gates.append(f"{once_key} not in ONCE{index}")
    if rule.cooldown_us is not None:
        # The last gate: it starts the cooldown when it lets the rule through, so only once every
        # other gate has.
        cooldown_key = _local(w, "kc", emit.key(rule.cooldown_keys))
        gates.append(f"cooldown_take(COOL{index}, {cooldown_key}, ts, {rule.cooldown_us})")
    if gates:
        w.line(f"if {' and '.join(gates)}:")
        w.indent()
        if once_key is not None:
            w.line(f"ONCE{index}.add({once_key})")
    who = emit.value(rule.member if rule.member is not None else IR("field", "text", value=("user",)))
    event_id = emit.value(IR("field", "text", value=("id",)))
    reason = _local(w, "reason", template(rule.reason, emit) if rule.reason is not None else "None")
    if emit.tables.explain:
        _explanation(w, rule, emit, pool)
    emit_actions(w, rule.actions, emit, f"{pool.add(rule.policy)}, {pool.add(rule.name)}", who, event_id, reason,
                 pool.add(rule.name), shadow=rule.shadow, why="why" if emit.tables.explain else None)
    if rule.stop:
        w.line("return None")
    w.caught(f"rule_failed({index}, exc, ev)")

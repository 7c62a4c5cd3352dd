"""The record loop: replay's loop over a chunk of lines with the evaluator's per-event bookkeeping and every record
handler written into one generated function.

`replay` → `Evaluator.process_record` → a handler is three Python frames an event; on the reference
policies the frames and the bookkeeping's flag tests were a third of the bytecodes an event ran. Here
one frame runs a stretch of lines, the flags are settled when the program is compiled, and the
handler bodies sit in branches on the event type. It must do exactly what `process_record` does
(tests/test_records.py runs both on the same logs): first the watermark, then due timers, the event
count, periods, member tracking, the handler and roles; the periodic sweep of expired state runs
when a stretch ends rather than at the exact event.

It hands back to `replay`, with the decisions made so far, at the end of the chunk, at each line a
record does not take, after each event that failed a rule, so reporting stays in one place and
names the line, and before each late event, which `process_record` then evaluates: the loop itself
only moves the clock forward. A worker's loop (RUN_SHARED) takes routed items (events/routing.py:
own lines, other shares' event times, lines every worker judges) and tags each decision for the
merge.
"""
from __future__ import annotations

from policyengine.events.clock import ASK, ITEM, LATE

# The watermark before the first event: below every event time (year 1 is -6.2e16 µs).
NO_TIME_YET = -(1 << 63)

# The loop's count of events, the event's number while its handler runs. Handler bodies read the
# event's number by this name (expressions.ExprEmitter.event_number): in the loop it is the loop's
# own local, set before any handler runs and changed by nothing a handler calls; a handler function
# binds it from the store in its prologue.
EVENT_NUMBER = "Z_n"


def record_loop(bodies: dict[str, list[str]], has_periods: bool, track_members: bool, has_roles: bool,
                message: str | None = None) -> list[str]:
    """`bodies`: event type (a pool name) → a record handler's lines (prologue and body, one level
    deep, without the final return). Two functions: RUN, and RUN_SHARED for a worker of `eval
    --workers` (its items routed: _routed_line below), so one worker's loop tests no flag for it. Local names start
    with `Z_`, which generated handlers never use. `message`: the pool name of the message
    handler's type, if there is one."""
    return _loop("RUN", False, bodies, has_periods, track_members, has_roles, message) + [""] + \
        _loop("RUN_SHARED", True, bodies, has_periods, track_members, has_roles, message)


def _loop(name: str, shared: bool, bodies: dict[str, list[str]], has_periods: bool, track_members: bool,
          has_roles: bool, message: str | None) -> list[str]:
    done = "Z_done" if shared else "out"
    lines = [
        f"def {name}(Z_lines, Z_decode, Z_decode_timed, Z_refused, Z_evaluator):",
        "    Z_store = STORE",
        "    Z_issues = Z_evaluator.issues",  # empty but for issues replay has yet to report
        # events_seen in a local: it counts this stretch's events too (the lines taken are Z_n - Z_n0).
        "    Z_n0 = Z_n = Z_store.events_seen",
        "    Z_members = Z_store.members",    # replaced only by loading state, never while a stretch runs
        *_clock(),
        # The decisions of the stretch, in order, handed back when it stops. A share's handlers
        # append an event's to `out`, which is tagged for the merge and moved to Z_done after it.
        "    out = []",
        *(["    Z_done = []"] if shared else []),
        # One worker's first event of all goes through process_record, which starts the periods,
        # so that the loop tests no count for it (4 bytecodes an event); a share's goes here.
        *(["    if Z_n == 0:",
           "        for Z_line in Z_lines:",
           "            return 0, 1, out, Z_line, None"] if has_periods and not shared else []),
        "    for Z_line in Z_lines:",
        *(_routed_line() + _shared_time() if shared else _timed_line() + ["        Z_n += 1"]),
        "        Z_store.events_seen = Z_n",
    ]
    if has_periods and shared:
        lines += ["        if Z_n == 1:",
                  "            REW.start(ts)"]
    if bodies or track_members:
        lines += ["        Z_type = ev.type"]
    # track_member without its frame and the record's lookups by field name, but for joins and
    # invites (rare), which also keep who invited whom: a message counts, any other event only
    # makes a member of one not seen before.
    counted = ["        if Z_type == 'message':",
               "            member_seen(Z_members, ev.user, ts)"]       # runtime/helpers.py, in C where built
    others = ["        if Z_type == 'join' or Z_type == 'invite':",
              "            track_member(Z_store, ev, ts)",
              "        elif ev.user not in Z_members:",
              "            Z_members[ev.user] = [ts, ts, 0]"]
    branches = [(event_type, _inlined(body)) for event_type, body in bodies.items()]
    if track_members and message is not None and branches and branches[0][0] == message:
        # The message handler's branch counts the member too, and every other event type is
        # dispatched under its `else`: one comparison of the type fewer an event.
        lines += counted + branches[0][1] + ["        else:"]
        lines += ["    " + line for line in others + _dispatch(branches[1:])]
    elif track_members:
        lines += counted + ["        el" + others[0].lstrip()] + others[1:] + _dispatch(branches)
    else:
        lines += _dispatch(branches)
    if has_roles:
        lines += ["        REW.check_roles(ev.user, ev, ts, out)"]
    lines += [
        # A share tags each event's decisions for the merge (a dict by identity: ShareEvaluator.tags).
        # Hand back after an event that failed a rule, so its report names its line.
        *(["        if out:",
           "            for Z_i, Z_d in enumerate(out):",
           "                Z_evaluator.tags[id(Z_d)] = (Z_n, 1, Z_i, 0)",
           "            Z_done += out",
           "            out = []"] if shared else []),
        "        if Z_issues:",
        f"            return Z_n - Z_n0, 2, {done}, None, ts",
        # Let go of the record: when nothing else kept it, decode_timed fills it again with the
        # next line instead of making a new one (events/_records.c).
        "        ev = None",
        # a share's last other shares' times, taken by its items' iterator after the last item
        *(["    Z_n += Z_lines.taken"] if shared else []),
        f"    return Z_n - Z_n0, 0, {done}, None, None",
    ]
    # When the stretch ends, however it ends: the watermark and the event count go back to the
    # store (nothing the loop calls reads the watermark; 3 bytecodes an event; a share's loop
    # counts other shares' times only where its iterator hands on an item), and expired state is
    # swept if the stretch reached the store's next sweep (store.py: `next_sweep`; a sweep only
    # drops what no rule can see any more, so when it runs changes no decision).
    start = lines.index("    for Z_line in Z_lines:")
    return lines[:start] + ["    try:"] + ["    " + line for line in lines[start:]] + [
        "    finally:",
        "        Z_store.events_seen = Z_n",
        # the clock's, where it moved (the store's stays as it was, whatever number it is)
        "        Z_wm = Z_clock.watermark",
        "        if Z_wm != Z_wm0:",
        "            Z_store.watermark = Z_wm",
        "        Z_wm = Z_store.watermark",
        "        if Z_wm is None:",
        f"            Z_wm = {NO_TIME_YET}",
        "        if Z_n >= Z_store.next_sweep:",
        "            Z_store.sweep(Z_wm, Z_evaluator.widths)"]


def _clock() -> list[str]:
    """The loop keeps its clock in the store's Clock (events/clock.py), whose watermark starts as
    the store's: only this loop moves it while it runs."""
    return ["    Z_clock = Z_store.clock",
            "    Z_clock.watermark = Z_store.watermark",
            "    Z_wm0 = Z_clock.watermark"]


def _timed_line() -> list[str]:
    """The record and its time come from one call (events/records.py: `timed_record_decoder`),
    which also compares the time with the clock: no time when Python must read the line (handed
    back to replay's per-line path), when the event came late (process_record evaluates it at the
    latest time and replay reports it), or when timers are due before it (fired here)."""
    return ["        try:",
            "            ev, ts = Z_decode_timed(Z_line, Z_clock)",
            "        except Z_refused:",
            "            return Z_n - Z_n0, 1, out, Z_line, None",
            "        if ts is None:",
            "            Z_stop = Z_clock.stop",
            f"            if Z_stop == {ASK}:",
            "                return Z_n - Z_n0, 1, out, Z_line, None",
            "            ts = Z_clock.ts",
            f"            if Z_stop == {LATE}:",
            "                return Z_n - Z_n0 + 1, 3, out, ev, ts",
            "            RT.fire_until(ts, out)"]


def _routed_line() -> list[str]:
    """A worker's items come routed (events/routing.py: `routed`; events/clock.py's `taking` is
    its definition), which takes other shares' event times itself where the clock takes them
    cleanly and counts them (`taken`, added to the loop's count at each item, which counts an own
    line too: the loop adds no 1 of its own). Most items are lines of this share's members, which
    go straight to the decoder: whatever else it is handed it gives no time for, with the clock's
    `stop` ITEM (_routed_item), so an own line costs no test of its own."""
    return ["        Z_n += Z_lines.taken"]


def _routed_item() -> list[str]:
    """An item that is not a line, in the branch of no time (`stop` ITEM). An other share's time
    handed on came late or has a timer due by it: it goes through ShareEvaluator.tick, which
    counts it and tags what fires for the merge. A line the route was unsure of, `(line,)`, goes
    back to replay's per-line path, where ShareEvaluator judges it as one worker would."""
    return [f"            if Z_stop == {ITEM}:",
            "                if type(Z_line) is tuple:",
            "                    return Z_n - Z_n0, 1, Z_done, Z_line[0], None",
            "                ts = Z_line",
            *_through_evaluator("Z_evaluator.tick(ts)", 16)]


def _shared_time() -> list[str]:
    """A routed line is one the record decoder takes, with the time the route read
    (events/_route.c): anything else means other shares have moved their clocks by a line that is
    not an event, and the run is no longer exact (parallel/workers.py runs it again on one worker). An
    event of this share's member with a timer due goes through ShareEvaluator's own step, which
    tags what fires for the merge (so the loop's own `fire_until` never runs in a share)."""
    return ["        try:",
            "            ev, ts = Z_decode_timed(Z_line, Z_clock)",
            "        except Z_refused:",
            "            raise RouteDiverged(Z_line) from None",
            "        if ts is None:",
            "            Z_stop = Z_clock.stop",
            *_routed_item(),
            f"            if Z_stop == {ASK}:",
            "                raise RouteDiverged(Z_line)",
            "            ts = Z_clock.ts",
            # the line counted in `taken` is counted again where it is evaluated (process_record)
            "            Z_n -= 1",
            f"            if Z_stop == {LATE}:",
            "                return Z_n - Z_n0 + 1, 3, Z_done, ev, ts",
            *_through_evaluator("Z_evaluator.process_record(ev, ts)", 12)]


def _through_evaluator(call: str, depth: int) -> list[str]:
    """The body of an `if` at `depth` spaces (a share's loop): `call` runs with the store's clock
    up to date, its decisions (tagged by ShareEvaluator) join the stretch's, the loop's locals are
    read back, and the loop hands back if the event came late or failed."""
    return [" " * depth + line for line in (
        "Z_late = Z_evaluator.late_events",
        "Z_store.watermark = Z_clock.watermark",
        "Z_store.events_seen = Z_n",
        f"Z_done += {call}",
        "Z_clock.watermark = Z_store.watermark",
        "Z_n = Z_store.events_seen",
        "if Z_evaluator.late_events != Z_late or Z_issues:",
        "    return Z_n - Z_n0, 2, Z_done, None, ts",
        "continue")]


def _dispatch(branches: list[tuple[str, list[str]]]) -> list[str]:
    """The inlined handlers as one chain of type tests."""
    lines = []
    for i, (event_type, body) in enumerate(branches):
        lines += [f"        {'if' if i == 0 else 'elif'} Z_type == {event_type}:"] + body
    return lines


def _inlined(body: list[str]) -> list[str]:
    """A handler body two levels deeper. A `stop` rule ends its handler with `return None`, which
    here would end the whole loop: it raises StopRules instead (a BaseException, so the rules'
    `except Exception` lets it through), caught around the body. Only rules that fired get there.
    The body reads the event's number as EVENT_NUMBER, which here is the loop's count."""
    stops = [i for i, line in enumerate(body) if line.split() and line.split()[0] == "return"]
    if any(body[i].strip() != "return None" for i in stops):
        raise AssertionError("a handler body returns a value; it cannot be inlined")
    if not stops:
        return ["        " + line for line in body]
    lines = ["            try:"]
    lines += ["            " + (line.replace("return None", "raise StopRules") if i in stops else line)
              for i, line in enumerate(body)]
    lines += ["            except StopRules:",
              "                pass"]
    return lines

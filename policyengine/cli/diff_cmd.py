"""`policyengine diff --policy OLD --against NEW LOG…`: what a policy change would have decided differently.

Each version replays the logs as `eval` would run it (`replay` and the program's record loop), so
the comparison is between the decisions the two `eval` runs would write. Decisions are matched on
what they are about — event (or time), rule, action, member — and compared on everything else: a
match with other values (a longer mute, another reason) is *changed*; the rest are *added* or
*removed*. Differences are listed in the order of the current version's decisions, then the new
version's: the examples are the first of each kind, the same on every run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict

import orjson

from policyengine.cli import exits
from policyengine.cli.eval_cmd import quiet_collector, restore_collector
from policyengine.cli.reporting import print_diagnostics, usage_error
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import PolicyPathError, load_paths
from policyengine.logs import LogOpenError, check_readable, open_log
from policyengine.replay import ReplayStats, replay
from policyengine.runtime.evaluator import Evaluator

EXAMPLES = 3
_IDENTITY = ("event_id", "rule", "action", "user", "channel")


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="replay logs under two policy versions and compare the decisions",
                       description=__doc__.splitlines()[0], epilog=exits.EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--policy", action="append", required=True, metavar="OLD", help="the current policies (repeat)")
    p.add_argument("--against", action="append", required=True, metavar="NEW", help="the changed policies (repeat)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def _identity(d: dict) -> tuple:
    return (d.get("event_id") or d["ts"],) + tuple(d.get(k) for k in _IDENTITY[1:])


def _report(message: str) -> None:
    sys.stderr.write(message + "\n")


def _readable_twice(logs: list[str], folder: str) -> list[tuple[str, str]]:
    """(name to report, path to read) for each log. Both versions replay the logs, and standard
    input can be read once: the first `-` is copied to a file in `folder` for both to read (a
    later `-` reads as empty, as it would in `eval`)."""
    out, spooled = [], False
    for name in logs:
        if name != "-":
            out.append((name, name))
            continue
        path = os.path.join(folder, f"stdin-{len(out)}")
        with open(path, "wb") as copy:
            if not spooled:
                shutil.copyfileobj(sys.stdin.buffer, copy, 1 << 20)
        spooled = True
        out.append(("<stdin>", path))
    return out


def _replay_side(loaded, logs: list[tuple[str, str]], decided: dict, stats: ReplayStats, about_input: bool) -> None:
    """One version's decisions over the logs, by identity in the order they came. The current
    version says what is wrong with the input (bad lines, a damaged log); both say which of their
    rules failed."""
    compiled = compile_program(loaded.program)
    evaluator = Evaluator(compiled)
    decoder = EventDecoder(compiled.plan.field_types)

    def keep(d: dict) -> None:
        decided.setdefault(_identity(d), []).append(d)
    for name, path in logs:
        log = open_log(path)
        log.name = name
        try:
            replay(log, evaluator, decoder, keep, _report, stats, about_input=about_input)
        finally:
            log.close()


def run(args) -> int:
    try:
        old, new = load_paths(args.policy), load_paths(args.against)
        check_readable(args.logs)
    except (PolicyPathError, LogOpenError) as err:
        usage_error(str(err))
        return exits.USAGE
    for loaded in (old, new):
        print_diagnostics(loaded.diagnostics, loaded.sources, "text")
    if old.program is None or new.program is None:
        return exits.POLICY_ERRORS
    found: list[dict] = [{}, {}]
    stats = [ReplayStats(), ReplayStats()]
    collector = quiet_collector()
    try:
        with tempfile.TemporaryDirectory(prefix="policyengine-diff-") as folder:
            try:
                logs = _readable_twice(args.logs, folder)
            except OSError as err:
                usage_error(f"cannot copy standard input for both versions to read: {err.strerror or err}")
                return exits.USAGE
            for side, loaded in enumerate((old, new)):
                _replay_side(loaded, logs, found[side], stats[side], about_input=side == 0)
    finally:
        restore_collector(collector)
    report = compare(found[0], found[1])
    report.update(events=stats[0].events, bad_lines=stats[0].bad_lines)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(report))
    return exits.OK


def compare(old: dict, new: dict) -> dict:
    groups: dict = defaultdict(lambda: {"added": 0, "removed": 0, "changed": 0, "examples": []})
    members: dict[str, set] = {"added": set(), "removed": set(), "changed": set()}
    totals = Counter()

    def note(kind: str, before, after) -> None:
        d = after or before
        key = (d["rule"], d["action"])          # not the policy name: a renamed file is the same rules
        group = groups[key]
        group[kind] += 1
        totals[kind] += 1
        if d.get("user"):
            members[kind].add(d["user"])
        if len(group["examples"]) < EXAMPLES:
            group["examples"].append({"kind": kind, "before": before, "after": after})

    # Identities in the order their first decision came: the old version's, then those only the
    # new one made (a set's order would change the examples from run to run).
    for identity in [*old, *(i for i in new if i not in old)]:
        a, b = old.get(identity, []), new.get(identity, [])
        for x, y in zip(a, b):
            if {k: v for k, v in x.items() if k != "policy"} != {k: v for k, v in y.items() if k != "policy"}:
                note("changed", x, y)
        for x in a[len(b):]:
            note("removed", x, None)
        for y in b[len(a):]:
            note("added", None, y)
    ordered = sorted(groups.items(), key=lambda kv: (-(kv[1]["added"] + kv[1]["removed"] + kv[1]["changed"]), kv[0]))
    return {"added": totals["added"], "removed": totals["removed"], "changed": totals["changed"],
            "members_affected": len(members["added"] | members["removed"] | members["changed"]),
            "groups": [{"rule": r, "action": a, **g} for (r, a), g in ordered]}


def render(report: dict) -> str:
    lines = [f"{report['events']:,} events replayed under both versions"
             + (f" ({report['bad_lines']:,} bad lines skipped)" if report["bad_lines"] else ""),
             f"decisions added {report['added']:,}, removed {report['removed']:,}, changed {report['changed']:,}; "
             f"members affected {report['members_affected']:,}", ""]
    if not report["groups"]:
        lines.append("no differences")
    for g in report["groups"]:
        lines.append(f"{g['rule']} {g['action']}: +{g['added']} −{g['removed']} ~{g['changed']}")
        for ex in g["examples"]:
            if ex["kind"] == "changed":
                before, after = ex["before"], ex["after"]
                delta = ", ".join(f"{k}: {before.get(k)!r} → {after.get(k)!r}" for k in sorted(before.keys() | after.keys())
                                  if before.get(k) != after.get(k))
                lines.append(f"    ~ {after['ts']} user={after.get('user', '-')} {delta}")
            else:
                d = ex["after"] or ex["before"]
                sign = "+" if ex["kind"] == "added" else "−"
                lines.append(f"    {sign} {d['ts']} user={d.get('user', '-')} event={d.get('event_id', '-')}")
    return "\n".join(lines) + "\n"

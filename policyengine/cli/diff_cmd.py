"""`policyengine diff --policy OLD --against NEW LOG…`: what a policy change would have decided differently.

Each version replays the logs as `eval` would run it (`replay` and the program's record loop), so
the comparison is between the decisions the two `eval` runs would write. Decisions are matched on
what they are about — event (or time), rule, action, member — and compared on everything else: a
match with other values (a longer mute, another reason) is *changed*; the rest are *added* or
*removed*.

Memory holds the differences, not the decisions: the current version's decisions go to a
temporary file, a batch of lines at a time (`replay`'s progress marks where each batch ends), and
the new version's are matched against them batch by batch as it replays the same lines. A
decision with nothing to match yet waits (the other version may make it later); what still waits
at the end was added or removed. Changes are listed in the order they were made, then removals in
the current version's order, then additions in the new one's: the same on every run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict, deque

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


def _replay(loaded, logs: list[tuple[str, str]], emit, batch_done, stats: ReplayStats, about_input: bool) -> None:
    """One version over the logs: its decisions to `emit`, `batch_done()` after each batch of lines
    and at the end of each log. The current version says what is wrong with the input (bad lines,
    a damaged log); both say which of their rules failed."""
    compiled = compile_program(loaded.program)
    evaluator = Evaluator(compiled)
    decoder = EventDecoder(compiled.plan.field_types)
    for name, path in logs:
        log = open_log(path)
        log.name = name
        try:
            replay(log, evaluator, decoder, emit, _report, stats, about_input=about_input,
                   progress=lambda _log, _stats: batch_done())
        finally:
            log.close()
        batch_done()


_BATCH_END = b"-\n"          # between the spooled decisions (JSON objects) of two batches


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
    stats = [ReplayStats(), ReplayStats()]
    comparison = Comparison()
    collector = quiet_collector()
    try:
        with tempfile.TemporaryDirectory(prefix="policyengine-diff-") as folder:
            try:
                logs = _readable_twice(args.logs, folder)
                spool = open(os.path.join(folder, "decisions.jsonl"), "w+b")
            except OSError as err:
                usage_error(f"cannot write a temporary file in {folder}: {err.strerror or err}")
                return exits.USAGE
            with spool:
                write, dumps, newline = spool.write, orjson.dumps, orjson.OPT_APPEND_NEWLINE
                _replay(old, logs, lambda d: write(dumps(d, option=newline)), lambda: write(_BATCH_END),
                        stats[0], about_input=True)
                spool.seek(0)
                batch: list[dict] = []          # the new version's decisions of the batch it is in

                def batch_done() -> None:
                    comparison.match(_spooled_batch(spool), batch)
                    batch.clear()
                _replay(new, logs, batch.append, batch_done, stats[1], about_input=False)
                comparison.match(_rest(spool), batch)
    finally:
        restore_collector(collector)
    report = comparison.report()
    report.update(events=stats[0].events, bad_lines=stats[0].bad_lines)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(report))
    return exits.OK


def _spooled_batch(spool) -> list[dict]:
    """The current version's decisions of its next batch, from the spool."""
    batch = []
    for line in spool:
        if line == _BATCH_END:
            break
        batch.append(orjson.loads(line))
    return batch


def _rest(spool) -> list[dict]:
    return [orjson.loads(line) for line in spool if line != _BATCH_END]


def _same(a: dict, b: dict) -> bool:
    """Everything but the policy's name (a renamed file holds the same rules)."""
    return {k: v for k, v in a.items() if k != "policy"} == {k: v for k, v in b.items() if k != "policy"}


class Comparison:
    """Decisions of the two versions matched by identity as they come: the k-th of an identity in
    one version with its k-th in the other, as if both lists were whole."""

    def __init__(self) -> None:
        self.groups: dict = defaultdict(lambda: {"added": 0, "removed": 0, "changed": 0, "examples": []})
        self.members: dict[str, set] = {"added": set(), "removed": set(), "changed": set()}
        self.totals: Counter = Counter()
        self.waiting: tuple[dict, dict] = ({}, {})      # per version: identity → its decisions not matched yet

    def match(self, old_batch: list[dict], new_batch: list[dict]) -> None:
        for side, batch in ((0, old_batch), (1, new_batch)):
            mine, theirs = self.waiting[side], self.waiting[1 - side]
            for d in batch:
                identity = _identity(d)
                other = theirs.get(identity)
                if not other:
                    mine.setdefault(identity, deque()).append(d)
                    continue
                before, after = (d, other.popleft()) if side == 0 else (other.popleft(), d)
                if not other:
                    del theirs[identity]
                if not _same(before, after):
                    self.note("changed", before, after)

    def note(self, kind: str, before, after) -> None:
        d = after or before
        group = self.groups[(d["rule"], d["action"])]     # not the policy name, as in _same
        group[kind] += 1
        self.totals[kind] += 1
        if d.get("user"):
            self.members[kind].add(d["user"])
        if len(group["examples"]) < EXAMPLES:
            group["examples"].append({"kind": kind, "before": before, "after": after})

    def report(self) -> dict:
        """What is still waiting was removed (the current version's) or added (the new one's)."""
        for decisions in self.waiting[0].values():
            for d in decisions:
                self.note("removed", d, None)
        for decisions in self.waiting[1].values():
            for d in decisions:
                self.note("added", None, d)
        self.waiting = ({}, {})
        groups, totals = self.groups, self.totals
        ordered = sorted(groups.items(), key=lambda kv: (-(kv[1]["added"] + kv[1]["removed"] + kv[1]["changed"]), kv[0]))
        return {"added": totals["added"], "removed": totals["removed"], "changed": totals["changed"],
                "members_affected": len(self.members["added"] | self.members["removed"] | self.members["changed"]),
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

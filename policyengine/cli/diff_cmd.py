"""`policyengine diff --policy OLD --against NEW LOG…`: what a policy change would have decided differently.

Each version replays the logs as `eval` would run it (`replay` and the program's record loop), so
the comparison is between the decisions the two `eval` runs would write. Decisions are matched on
what they are about — event (or time), rule, action, member — and compared on everything else: a
match with other values (a longer mute, another reason) is *changed*; the rest are *added* or
*removed*.

The two versions replay side by side, a process each, and write their decisions to temporary
files with a mark after each batch of lines (`replay`'s progress). The parent reads the files as
they grow and matches batch k of one version against batch k of the other as soon as both are
written, so memory holds the differences, not the decisions, and the matching takes the time the
replays leave: a decision with nothing to match yet waits (the other version may make it later);
what still waits at the end was added or removed. Changes are listed in the order they were made,
then removals in the current version's order, then additions in the new one's: the same on every
run. Messages come after both replays:
the current version's (bad lines, a damaged log, its rules' failures), then the new one's (its
rules' failures).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict, deque
from typing import NamedTuple

import orjson

from policyengine.cli import exits
from policyengine.cli.collector import quiet_collector, restore_collector
from policyengine.cli.writers import jsonl_writer
from policyengine.cli.reporting import print_diagnostics, printable, usage_error
from policyengine.cli.unchanged import key_of, unchanged_out
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import PolicyPathError, load_paths
from policyengine.logs import LogOpenError, check_readable, open_log
from policyengine.replay import ReplayStats, replay
from policyengine.runtime.evaluator import Evaluator

EXAMPLES = 3


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
    """What a decision is about: its event (or time), rule, action, member and channel. Spelled
    out: a generator over the keys was a third of the matching's time."""
    get = d.get
    return get("event_id") or d["ts"], get("rule"), get("action"), get("user"), get("channel")


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
                import shutil
                shutil.copyfileobj(sys.stdin.buffer, copy, 1 << 20)
        spooled = True
        out.append(("<stdin>", path))
    return out


class _Side(NamedTuple):
    """What a version's worker sends back: its decisions are in the spool file at `path`, its
    messages a line each in the file at `reports` (as many as the log has bad lines: not held)."""
    path: str
    reports: str
    stats: ReplayStats


_job: tuple | None = None        # (versions, logs, folder), set before the workers fork; they inherit it


def _replay_version(side: int) -> _Side:
    """One version over the logs, in a worker of its own. Its decisions go to a file as they come,
    a JSON line each, with a marker after each batch of lines (`replay`'s progress) and each log:
    both versions read the same lines in the same batches, so the parent matches them batch by
    batch. The current version says what is wrong with the input (bad lines, a damaged log); both
    say which of their rules failed."""
    versions, logs, folder = _job
    compiled = compile_program(versions[side].program)
    evaluator = Evaluator(compiled)
    decoder = EventDecoder(compiled.plan.field_types)
    stats = ReplayStats()
    path = os.path.join(folder, f"version{side}.jsonl")
    reports = os.path.join(folder, f"version{side}.messages")
    # The parent made the spool and reads it as it grows: each batch is flushed as it ends.
    with open(path, "wb") as spool, open(reports, "w", encoding="utf-8") as messages:
        emit = jsonl_writer(spool)                      # as `eval` writes decisions

        def report(message: str) -> None:
            messages.write(message + "\n")
        for name, log_path in logs:
            log = open_log(log_path)
            log.name = name
            try:
                replay(log, evaluator, decoder, emit, report, stats,
                       progress=lambda _log, _stats: _end_batch(spool), about_input=side == 0)
            finally:
                log.close()
            _end_batch(spool)
    return _Side(path, reports, stats)


def _end_batch(spool) -> None:
    spool.write(_BATCH_END)
    spool.flush()


_BATCH_END = b"-\n"          # between the spooled decisions (JSON objects) of two batches
_BATCH_MARK = _BATCH_END[:-1]   # … as a line read back


def run(args) -> int:
    global _job
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
    # imported here: every command's start-up paid ~15 ms for them (multiprocessing brings socket
    # and pickle, tempfile shutil and random), and only diff uses them
    import multiprocessing
    import shutil
    import tempfile
    comparison = Comparison()
    collector = quiet_collector()
    try:
        with tempfile.TemporaryDirectory(prefix="policyengine-diff-") as folder:
            try:
                logs = _readable_twice(args.logs, folder)
            except OSError as err:
                usage_error(f"cannot write a temporary file in {folder}: {err.strerror or err}")
                return exits.USAGE
            # The two versions replay side by side, one process each; the parent matches their
            # decisions from the spools, a batch at a time.
            _job = ((old, new), logs, folder)
            tails = [_Tail(os.path.join(folder, f"version{side}.jsonl")) for side in (0, 1)]
            try:
                with multiprocessing.get_context("fork").Pool(2) as pool:
                    replayed = pool.map_async(_replay_version, (0, 1))
                    _match_as_they_come(tails, comparison, replayed.ready)
                    sides = replayed.get()
            finally:
                _job = None
                for tail in tails:
                    tail.close()
            for side in sides:
                with open(side.reports, encoding="utf-8") as messages:
                    shutil.copyfileobj(messages, sys.stderr)
    finally:
        restore_collector(collector)
    report = comparison.report()
    report.update(events=sides[0].stats.events, bad_lines=sides[0].stats.bad_lines)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(report))
    return exits.OK


class _Tail:
    """A version's spool read as its worker writes it: the batches complete so far, each a list
    of its decisions' lines. The file is made here, before the worker opens it to write."""

    def __init__(self, path: str) -> None:
        open(path, "wb").close()
        self.file = open(path, "rb")
        self.partial = b""                  # the start of a line not written whole yet
        self.lines: list[bytes] = []        # of the batch not ended yet
        self.batches: deque[list[bytes]] = deque()

    def read(self) -> bool:
        """What the worker has written since: whether there was anything."""
        data = self.file.read()
        if not data:
            return False
        *whole, self.partial = (self.partial + data).split(b"\n")
        for line in whole:
            if line == _BATCH_MARK:
                self.batches.append(self.lines)
                self.lines = []
            else:
                self.lines.append(line)
        return True

    def decisions(self) -> list[bytes]:
        """The next complete batch's decisions, a line each (none when no batch is left)."""
        return self.batches.popleft() if self.batches else []

    def close(self) -> None:
        self.file.close()


def _match_as_they_come(tails: list[_Tail], comparison: "Comparison", replayed) -> None:
    """Batch k of one version against batch k of the other, as soon as both are written: the
    matching takes the time the replays leave (it waited for both to end: 2.0 s of the pack's 4.8
    against an edited pack over 1M events). `replayed()`: whether both workers have ended, after
    which what their spools hold is all they wrote."""
    current, changed = tails

    def match(every: bool) -> None:
        """Batch k of each while both have one (`every`: while either has: none will come)."""
        while current.batches and changed.batches or every and (current.batches or changed.batches):
            comparison.match_lines(current.decisions(), changed.decisions())
    while True:
        ended = replayed()                  # asked first: what was written before it is read below
        came = current.read() | changed.read()
        match(ended)
        if ended:
            return
        if not came:
            time.sleep(0.002)


def _same(a: dict, b: dict) -> bool:
    """Everything but the policy's name (a renamed file holds the same rules). Most matched
    decisions are equal whole, which one comparison in C says without copying either; two of one
    policy that are not equal differ in something else."""
    return a == b or (a.get("policy") != b.get("policy")
                      and {k: v for k, v in a.items() if k != "policy"} == {k: v for k, v in b.items() if k != "policy"})


class Comparison:
    """Decisions of the two versions matched by identity as they come: the k-th of an identity in
    one version with its k-th in the other, as if both lists were whole."""

    def __init__(self) -> None:
        self.groups: dict = defaultdict(lambda: {"added": 0, "removed": 0, "changed": 0, "examples": []})
        self.affected: set = set()                         # members with a decision added, removed or changed
        # per version: identity → its decision not matched yet, or a deque of them where there are
        # more (most identities wait alone: a deque each was a third of the matching's time)
        self.waiting: tuple[dict, dict] = ({}, {})
        # the keys (cli/unchanged.key_of) of the identities waiting in either version, each with how
        # many: a line of such a key is never set aside unparsed
        self.waiting_keys: dict = {}

    def match_lines(self, old_lines: list[bytes], new_lines: list[bytes]) -> None:
        """Batch k of each version as its spool holds it: the lines that are the same in both and
        need no parse set aside (cli/unchanged.py: 98 % of them when one threshold is edited), the
        rest parsed and matched."""
        old_lines, new_lines = unchanged_out(old_lines, new_lines, self.waiting_keys)
        loads = orjson.loads
        self.match([loads(line) for line in old_lines], [loads(line) for line in new_lines])

    def match(self, old_batch: list[dict], new_batch: list[dict]) -> None:
        # Identities that began to wait in this batch pair: most are matched before it ends, and
        # only those still waiting then are keyed (two key_of calls a matched pair were 8 % of a
        # heavy diff's matching).
        began: set = set()
        for side, batch in ((0, old_batch), (1, new_batch)):
            mine, theirs = self.waiting[side], self.waiting[1 - side]
            for d in batch:
                identity = _identity(d)
                other = theirs.get(identity)
                if other is None:
                    held = mine.get(identity)
                    if held is None:
                        mine[identity] = d
                        began.add(identity)
                    elif held.__class__ is deque:
                        held.append(d)
                    else:
                        mine[identity] = deque((held, d))
                    continue
                if other.__class__ is deque:
                    matched = other.popleft()
                    if not other:
                        del theirs[identity]
                        self._waits_no_more(identity, began)
                else:
                    matched = other
                    del theirs[identity]
                    self._waits_no_more(identity, began)
                before, after = (d, matched) if side == 0 else (matched, d)
                if not _same(before, after):
                    self.note("changed", before, after)
        keys = self.waiting_keys
        for identity in began:
            key = key_of(identity[0], identity[1])
            keys[key] = keys.get(key, 0) + 1

    def _waits_no_more(self, identity: tuple, began: set) -> None:
        if identity in began:
            began.discard(identity)
            return
        key = key_of(identity[0], identity[1])
        left = self.waiting_keys[key] - 1
        if left:
            self.waiting_keys[key] = left
        else:
            del self.waiting_keys[key]

    def note(self, kind: str, before, after) -> None:
        d = after or before
        group = self.groups[(d["rule"], d["action"])]     # not the policy name, as in _same
        group[kind] += 1
        user = d.get("user")
        if user:
            self.affected.add(user)
        if len(group["examples"]) < EXAMPLES:
            group["examples"].append({"kind": kind, "before": before, "after": after})

    def report(self) -> dict:
        """What is still waiting was removed (the current version's) or added (the new one's)."""
        for waiting in self.waiting[0].values():
            for d in (waiting if waiting.__class__ is deque else (waiting,)):
                self.note("removed", d, None)
        for waiting in self.waiting[1].values():
            for d in (waiting if waiting.__class__ is deque else (waiting,)):
                self.note("added", None, d)
        self.waiting, self.waiting_keys = ({}, {}), {}
        groups = self.groups
        ordered = sorted(groups.items(), key=lambda kv: (-(kv[1]["added"] + kv[1]["removed"] + kv[1]["changed"]), kv[0]))
        totals = {kind: sum(g[kind] for g in groups.values()) for kind in ("added", "removed", "changed")}
        return {**totals, "members_affected": len(self.affected),
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
    return "\n".join(printable(line) for line in lines) + "\n"     # names from events: no control characters

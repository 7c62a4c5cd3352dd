"""What each rule and aggregate costs in time: runs of `eval`'s loop with one of them left out.

    python -m benchmarks.rule_cost --policy policies/community --log log.jsonl --rounds 9

Instruction counts (valgrind) miss what the community pack's time is mostly made of: memory
stalls on a dozen member-keyed tables (docs/performance-history.md, ninth session). This times the
record loop in process on the whole log, once as compiled and once without each rule's block
(`# rule N` … `rule_failed(N, …)`) or each aggregate's update (`aggregate_failed(N, …)`), in
alternating rounds, and prints what leaving each out saves: medians and fastest runs, since the
machine's noise is ±30 % between runs. What a rule saves includes the decisions it no longer
makes and their output; an aggregate left out still has its rules reading it (they then see an
empty one), so its line says what maintaining it costs. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import ast
import gc
import re
import statistics
import time

from policyengine.cli.collector import quiet_collector, restore_collector
from policyengine.cli.writers import jsonl_writer
from policyengine.compiler.program import CompiledProgram, compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import load_paths
from policyengine.logs import open_log
from policyengine.replay import ReplayStats, replay
from policyengine.runtime.evaluator import Evaluator

_FAILED = re.compile(r"^(\s*)(rule|aggregate)_failed\((\d+), exc, ev\)$")
# A handler's every-event updates in one call (runtime/updates.py): the steps bound by build(),
# each ending in its aggregate's index, and each call unpacking one read a step.
_BATCH = re.compile(r"^(\s*)(U\d+) = Updates\((.*), aggregate_failed, FAILED\)$")
_BATCH_CALL = re.compile(r"^(\s*)(.*), = (U\d+)\((.*)\)$")
_COUNT_VALUE = re.compile(r"^\s*((?:cnt|win)\d+) = ", re.MULTILINE)


def without(source: str, kind: str, index: int) -> str:
    """The generated source with every block of rule (kind "rule") or aggregate ("aggregate")
    `index` replaced by `pass` (by `cntN = 0` or `winN = 0` where the update hands the rules its
    value in a local), in every handler and loop it appears in. A block is the `try:` at the indentation of its `except` line, down to
    the `…_failed(index, exc, ev)` line."""
    lines = source.split("\n")
    found = _without_batched(lines, index) if kind == "aggregate" else 0
    i = 0
    while i < len(lines):
        m = _FAILED.match(lines[i])
        if m is None or m.group(2) != kind or int(m.group(3)) != index:
            i += 1
            continue
        handler = i - 1                                   # the `except Exception as exc:` line
        indent = len(lines[handler]) - len(lines[handler].lstrip())
        start = handler - 1
        while not (lines[start].strip() == "try:" and len(lines[start]) - len(lines[start].lstrip()) == indent):
            start -= 1
        # An update that hands its value to the rules (`cntN = …`, `winN = …`): left out, it is 0.
        kept = [f"{' ' * indent}{name} = 0" for name in _COUNT_VALUE.findall("\n".join(lines[start:i]))]
        lines[start:i + 1] = kept or [" " * indent + "pass"]
        found += 1
        i = start + 1
    if not found:
        raise ValueError(f"no block of {kind} {index} in the generated source")
    return "\n".join(lines)


def _position(node: ast.expr) -> int:
    """A step's value as a position in the call's arguments: -1 for a function of ts (active days'
    calendar), which takes none."""
    return -1 if isinstance(node, ast.Attribute) else ast.literal_eval(node)


def _without_batched(lines: list[str], index: int) -> int:
    """Aggregate `index` taken out of the batch of updates holding it, in place: its step out of
    the Updates, its read out of each call's unpacking and set to 0 after it, and the call's
    arguments cut to those the steps left read (the C type takes exactly those). How many calls."""
    found = 0
    for n, line in enumerate(lines):
        m = _BATCH.match(line)
        if m is None:
            continue
        steps = ast.parse(m.group(3), mode="eval").body.elts
        at = [k for k, step in enumerate(steps) if step.elts[5].value == index]
        if not at:
            continue
        del steps[at[0]]
        nargs = max([2] + [max(ast.literal_eval(step.elts[2]), _position(step.elts[3])) + 1 for step in steps])
        lines[n] = f"{m.group(1)}{m.group(2)} = Updates({ast.unparse(ast.Tuple(steps))}, aggregate_failed, FAILED)"
        for c, call in enumerate(lines):
            cm = _BATCH_CALL.match(call)
            if cm is None or cm.group(3) != m.group(2):
                continue
            reads = [r.strip() for r in cm.group(2).split(",")]
            gone = reads.pop(at[0])
            args = [ast.unparse(a) for a in ast.parse(f"f({cm.group(4)})", mode="eval").body.args][:nargs]
            indent = cm.group(1)
            kept = [f"{indent}{', '.join(reads)}, = {cm.group(3)}({', '.join(args)})"] if reads else []
            lines[c] = "\n".join(kept + [f"{indent}{gone} = 0"])
            found += 1
    return found


def variant(base: CompiledProgram, source: str) -> CompiledProgram:
    return CompiledProgram(source, compile(source, "<rule_cost>", "exec"), base.pool, base.plan, base.record)


def blocks(base: CompiledProgram) -> list[tuple[str, int]]:
    """(kind, index) of each rule and aggregate the record loop runs, in the order they appear."""
    seen: list[tuple[str, int]] = []
    for line in base.source.split("\n"):
        m = _FAILED.match(line)
        batch = _BATCH.match(line)
        found = [(m.group(2), int(m.group(3)))] if m is not None else \
            [("aggregate", step.elts[5].value) for step in ast.parse(batch.group(3), mode="eval").body.elts] \
            if batch is not None else []
        seen += [block for block in found if block not in seen]
    return seen


def timed_run(compiled: CompiledProgram, log_path: str) -> tuple[float, int, int]:
    """CPU seconds of one replay of the log, as `eval` runs it (record loop, decisions written as
    JSON lines to /dev/null), how many decisions it made and how many messages it reported (a
    variant that breaks a rule reports its failures, and its time means little)."""
    evaluator = Evaluator(compiled, None)
    decoder = EventDecoder(compiled.plan.field_types)
    stats = ReplayStats()
    reported: list[str] = []
    log = open_log(log_path)
    with open("/dev/null", "wb") as out:
        gc.collect()
        saved = quiet_collector()                          # as `eval` runs
        started = time.process_time()
        try:
            replay(log, evaluator, decoder, jsonl_writer(out), reported.append, stats)
        finally:
            took = time.process_time() - started
            restore_collector(saved)
            log.close()
    return took, sum(stats.decisions.values()), len(reported)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy", action="append", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args(argv)
    loaded = load_paths(a.policy)
    base = compile_program(loaded.program)
    names = {i: rule.name for i, rule in enumerate(base.plan.rules)}
    sources = {i: agg.source for i, agg in enumerate(base.plan.aggregates)}
    runs = {("base", -1): base}
    for kind, index in blocks(base):
        runs[(kind, index)] = variant(base, without(base.source, kind, index))
    times: dict = {key: [] for key in runs}
    decisions: dict = {}
    reports: dict = {}
    for _ in range(a.rounds):
        for key, compiled in runs.items():
            took, made, said = timed_run(compiled, a.log)
            times[key].append(took)
            decisions[key], reports[key] = made, said
    base_median, base_fastest = statistics.median(times[("base", -1)]), min(times[("base", -1)])
    print(f"{'left out':58s} {'saves (medians)':>16s} {'(fastest)':>10s} {'decisions':>10s} {'reported':>9s}")
    print(f"{'nothing':58s} {base_median:>14.3f} s {base_fastest:>8.3f} s {decisions[('base', -1)]:>10d} "
          f"{reports[('base', -1)]:>9d}")
    for (kind, index), spent in times.items():
        if kind == "base":
            continue
        label = f"rule {names[index]}" if kind == "rule" else f"aggregate {sources[index][:48]}"
        saved = (base_median - statistics.median(spent)) / base_median * 100
        saved_fastest = (base_fastest - min(spent)) / base_fastest * 100
        print(f"{label:58s} {saved:>+15.1f}% {saved_fastest:>+9.1f}% {decisions[(kind, index)]:>10d} "
              f"{reports[(kind, index)]:>9d}")


if __name__ == "__main__":
    main()

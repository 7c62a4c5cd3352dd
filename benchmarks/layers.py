"""What a program's time is made of, in layers: the record loop with nothing in it, then with
chosen rules, then whole, with and without writing decisions.

    python -m benchmarks.layers --policy policies/community --log log.jsonl --rounds 5
    python -m benchmarks.layers --policy policies/community --log log.jsonl --keep points_for_messages

`benchmarks.rule_cost` leaves one rule out at a time; against this machine's noise (±30 %) only
the largest rule stands out of it. Layers are larger and say where the floor is: "no rule" is
the generated record loop with every rule's and aggregate's block left out — reading, decoding,
the event clock, member tracking and the fields and text functions a handler computes before its
rules (`--bare-text` leaves those out too: the text a rule reads is then the raw text). Each
`--keep NAME` adds a layer with that rule (or `aggN`, an aggregate by index) kept alone.
Layers run in alternating rounds, in process, as `eval` runs them (benchmarks.rule_cost.timed_run);
CPU seconds, medians and fastest runs. Under valgrind (`--rounds 1 --only LAYER`) each layer is a
whole process's instructions: run it on two log sizes and subtract to get instructions an event.
Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import statistics

import benchmarks.rule_cost as rule_cost
from benchmarks.rule_cost import blocks, timed_run, variant, without
from policyengine.compiler.program import CompiledProgram, compile_program
from policyengine.loader import load_paths

# What a message handler computes before its rules, written out by compiler/codegen.py: left
# out by --bare-text (each line replaced as it is generated for the community pack).
_TEXT_LINES = {
    "cf0 = fold_text(f1)": "cf0 = f1",
    "nf0 = normalize(f1)": "nf0 = f1",
    "d0 = link_count_of(f1, P74)": "d0 = 0",
}


def stripped(base: CompiledProgram, keep: set[str], bare_text: bool) -> str:
    """The generated source with every rule and aggregate block left out but those in `keep`
    (rule names, or `aggN`)."""
    names = {i: rule.name for i, rule in enumerate(base.plan.rules)}
    source = base.source
    for kind, index in blocks(base):
        label = names[index] if kind == "rule" else f"agg{index}"
        if label not in keep:
            source = without(source, kind, index)
    if bare_text:
        found = [line for line in _TEXT_LINES if line in source]
        if not found:      # the lines are the pack's as generated: say so when codegen has moved on
            raise SystemExit("--bare-text: none of the text lines it knows is in the generated source")
        for line in found:
            source = source.replace(line, _TEXT_LINES[line])
    return source


def silent_writer(out):
    """A writer that drops decisions: what writing them costs is the difference."""
    def emit(decision: dict) -> None:
        pass
    emit.many = lambda decisions: None
    return emit


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy", action="append", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--keep", action="append", default=[], help="a layer with this rule (or aggN) alone")
    p.add_argument("--bare-text", action="store_true", help="leave out the handlers' text functions too")
    p.add_argument("--only", help="run this layer alone (for valgrind): a layer's name as printed")
    a = p.parse_args(argv)
    base = compile_program(load_paths(a.policy).program)
    layers: dict[str, tuple[CompiledProgram, bool]] = {
        "no rule": (variant(base, stripped(base, set(), a.bare_text)), True)}
    for name in a.keep:
        layers[f"only {name}"] = (variant(base, stripped(base, {name}, a.bare_text)), True)
    layers["whole, decisions not written"] = (variant(base, base.source), False)
    layers["whole"] = (variant(base, base.source), True)
    if a.only is not None:
        layers = {a.only: layers[a.only]}
    times: dict[str, list[float]] = {name: [] for name in layers}
    decided: dict[str, int] = {}
    writer = rule_cost.jsonl_writer
    for _ in range(a.rounds):
        for name, (compiled, written) in layers.items():
            rule_cost.jsonl_writer = writer if written else silent_writer
            try:
                took, decided[name], _ = timed_run(compiled, a.log)
            finally:
                rule_cost.jsonl_writer = writer
            times[name].append(took)
    print(f"{'layer':40s} {'median':>9s} {'fastest':>9s} {'decisions':>10s}")
    for name, spent in times.items():
        print(f"{name:40s} {statistics.median(spent):>7.3f} s {min(spent):>7.3f} s {decided[name]:>10d}")


if __name__ == "__main__":
    main()

"""Evaluation cost per event by kind of rule, over the same generated log. Never asserted."""
from pathlib import Path

import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.events.records import record_decoder
from policyengine.events.timestamps import parse_ts
from policyengine.loader import load_paths, load_text
from policyengine.runtime.evaluator import Evaluator

ROOT = Path(__file__).resolve().parents[1]
LINES = [orjson.dumps(e) for e in generate(20_000, seed=11)]

KINDS = {
    "stateless-contains": 'rule r { on message where text contains "加微信" do delete }',
    "word-list-1000": "words W = [" + ", ".join(f'"词{i}"' for i in range(1000)) + ']\n'
                      'rule r { on message where text contains any W do delete }',
    "regex": 'rule r { on message where text matches /https?:\\/\\/\\S+/i do flag("link") }',
    "sliding-window": 'rule r { on message when count(message by user within 1m) >= 10 do mute(10m) cooldown 10m per user }',
    "all-time-count-once": 'rule r { on message when count(message by user) >= 50 do promote("c") once per user }',
}


def _run(compiled, lines):
    """What `eval` does per line: decode into the program's record, evaluate."""
    ev = Evaluator(compiled)
    decode = record_decoder(compiled.record)
    process = ev.process_record
    for line in lines:
        record = decode(line)
        process(record, parse_ts(record.ts))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_eval_rule_kind(benchmark, kind):
    compiled = compile_program(load_text([("k.policy", KINDS[kind])]).program)
    benchmark(_run, compiled, LINES)


@pytest.mark.parametrize("pack", ["examples", "community"])
def test_eval_pack(benchmark, pack):
    compiled = compile_program(load_paths([str(ROOT / "policies" / pack)]).program)
    benchmark(_run, compiled, LINES)


def test_decode_only_dicts(benchmark):
    """The general decoder: orjson, then the contract checked in Python (the API and the fallback)."""
    dec = EventDecoder({})
    benchmark(lambda: [dec.decode(line) for line in LINES])


def test_decode_only_records(benchmark):
    """The record decoder `eval` uses, for the reference policies' fields."""
    compiled = compile_program(load_paths([str(ROOT / "policies/examples")]).program)
    decode = record_decoder(compiled.record)
    benchmark(lambda: [decode(line) for line in LINES])


def _pack_decisions() -> list[dict]:
    """The community pack's decisions on the log, as `eval` hands them to its writer."""
    compiled = compile_program(load_paths([str(ROOT / "policies" / "community")]).program)
    ev, decode, out = Evaluator(compiled), record_decoder(compiled.record), []
    for line in LINES:
        record = decode(line)
        out += ev.process_record(record, parse_ts(record.ts))
    return out


@pytest.mark.parametrize("writer", ["c", "orjson"])
def test_write_decisions(benchmark, writer):
    """Decisions out as JSON lines: output/_decisions.c against one orjson call a decision."""
    from policyengine.output.decisions import dump_lines, python_dump_lines
    decisions = _pack_decisions()
    benchmark(dump_lines if writer == "c" else python_dump_lines, decisions)


@pytest.mark.parametrize("tally", ["c", "counter"])
def test_count_decisions(benchmark, tally):
    """Decisions counted by (policy, rule, action): the C tally against a Counter of tuples."""
    from policyengine.output.decisions import PythonTally, Tally
    decisions = _pack_decisions()

    def count():
        t = Tally() if tally == "c" else PythonTally()
        t.add(decisions)
        t.drain({})
    benchmark(count)


def test_sweep_pack_state(benchmark):
    """The store's sweep of expired state (runtime/store.py: sweep) over the community pack's
    tables as the log leaves them: the copypasta windows by text (a dict), the repeats and count
    windows and the points cooldowns by member (columns). Each round sweeps a store the log was
    run into afresh, an hour past its last event, when every short window and cooldown has ended."""
    compiled = compile_program(load_paths([str(ROOT / "policies" / "community")]).program)
    decode = record_decoder(compiled.record)

    def fresh():
        ev, last = Evaluator(compiled), 0
        for line in LINES:
            record = decode(line)
            last = parse_ts(record.ts)
            ev.process_record(record, last)
        return (ev, last + 3_600_000_000), {}

    benchmark.pedantic(lambda ev, now: ev.store.sweep(now, ev.widths), setup=fresh, rounds=10)

"""What rules cost as they multiply: one rule against 100 rules, one word against 10 000.

    python -m benchmarks.rule_scaling --events 60000

Two figures per policy, best of --repeat: evaluation only (lines decoded once, up front), and
the whole `eval` loop over the same lines in memory (decoding included, as users run it).
Prints µs per event and the ratio to the matching one-rule policy; the target is under 2× for
100 rules or a 10 000-word list.
"""
from __future__ import annotations

import argparse
import io
import sys
import time

import orjson

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.events.records import record_decoder
from policyengine.events.timestamps import parse_ts
from policyengine.loader import load_text
from policyengine.logs import OpenLog
from policyengine.replay import ReplayStats, replay
from policyengine.runtime.evaluator import Evaluator

WORDS = [f"词{i}x" for i in range(10_000)]


def policies() -> dict[str, tuple[str, str]]:
    """name → (policy text, the one-rule policy it is compared with)."""
    one_word = 'rule r0 { on message where text contains "加微信" do delete }\n'
    one_count = ('rule r0 { on message where text contains "加微信" '
                 'when count(message where text contains "加微信" by user within 1m) >= 3 do mute(10m) }\n')
    return {
        "one `contains` rule": (one_word, "one `contains` rule"),
        "a 10 000-word `contains any` list": (
            "words W = [" + ", ".join(f'"{w}"' for w in WORDS) + "]\n"
            "rule r0 { on message where text contains any W do delete }\n", "one `contains` rule"),
        "100 `contains` rules, one word each": (
            one_word + "".join(f'rule r{i} {{ on message where text contains "{WORDS[i]}" do delete }}\n'
                               for i in range(1, 100)), "one `contains` rule"),
        "one rule with a filtered windowed count": (one_count, "one rule with a filtered windowed count"),
        "100 rules, each with its own filtered windowed count": (
            one_count + "".join(f'rule r{i} {{ on message where text contains "{WORDS[i]}" '
                                f'when count(message where text contains "{WORDS[i]}" by user within 1m) >= 3 '
                                f'do mute(10m) }}\n' for i in range(1, 100)),
            "one rule with a filtered windowed count"),
    }


def measure(text: str, lines: list[bytes], repeat: int) -> tuple[float, float]:
    compiled = compile_program(load_text([("bench.policy", text)]).program)
    decode = record_decoder(compiled.record)
    events = [(r, parse_ts(r.ts)) for r in map(decode, lines)]
    data = b"\n".join(lines) + b"\n"
    alone = whole = float("inf")
    for _ in range(repeat):
        process = Evaluator(compiled).process_record
        t = time.perf_counter()
        for record, ts in events:
            process(record, ts)
        alone = min(alone, time.perf_counter() - t)
        log = OpenLog("bench.jsonl", io.BytesIO(data), len(data), None)
        t = time.perf_counter()
        replay(log, Evaluator(compiled), EventDecoder(compiled.plan.field_types), _drop, _drop, ReplayStats())
        whole = min(whole, time.perf_counter() - t)
    return alone / len(events) * 1e6, whole / len(events) * 1e6


def _drop(_) -> None:
    pass


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    lines = [orjson.dumps(e) for e in generate(a.events, seed=7)]
    results = {}
    print(f"{'':<56} {'evaluation only':>22}   {'eval loop, decoding included':>30}")
    for name, (text, base) in policies().items():
        results[name] = alone, whole = measure(text, lines, a.repeat)
        print(f"{name:<56} {alone:6.2f} µs/event {alone / results[base][0]:4.1f}×   "
              f"{whole:6.2f} µs/event {whole / results[base][1]:4.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

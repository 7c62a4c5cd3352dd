"""The embedded engine's cost per event: `Engine.process` as a bot calls it, an event dict at a
time, decisions made `Decision`s. Never asserted (latency percentiles: benchmarks/latency.py)."""
from pathlib import Path

import pytest

from benchmarks.loggen import generate
from policyengine import BadEvent, Engine

ROOT = Path(__file__).resolve().parents[1]
EVENTS = list(generate(20_000, seed=11))


def _feed(engine: Engine) -> int:
    process = engine.process
    decided = 0
    for event in EVENTS:
        try:
            decided += len(process(event))
        except BadEvent:
            pass
    return decided


@pytest.mark.parametrize("pack", ["examples", "community"])
def test_engine_process(benchmark, pack):
    def fresh():                                # an engine with empty state each round, not timed
        return (Engine.load(str(ROOT / "policies" / pack)),), {}
    benchmark.pedantic(_feed, setup=fresh, rounds=7, iterations=1)

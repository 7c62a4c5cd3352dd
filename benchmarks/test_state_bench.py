"""The cost of `eval --state`: the same replay with and without a state file. Never asserted."""
from pathlib import Path

import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "log.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(50_000, seed=21)))
    return path


@pytest.mark.parametrize("pack", ["examples", "community"])
@pytest.mark.parametrize("with_state", [False, True], ids=["memory", "state"])
def test_eval_with_and_without_state(benchmark, tmp_path, log, pack, with_state):
    def run():
        state = tmp_path / "s.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)
        extra = ["--state", str(state)] if with_state else []
        assert main(["eval", "--quiet", "--progress", "never", "--policy", str(ROOT / "policies" / pack),
                     *extra, "--out", str(tmp_path / "o.jsonl"), str(log)]) == 0
    benchmark.pedantic(run, rounds=3, iterations=1)

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))          # so tests can import benchmarks.loggen


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def mixed_log(tmp_path_factory):
    """30 000 generated events with tests/test_records.py's hostile lines among them: timers,
    ladders, late events and bad lines for the tests that hold several workers or a split log to
    one worker (tests/test_workers.py, tests/test_split.py)."""
    from tests.test_records import _log_bytes
    path = tmp_path_factory.mktemp("mixed") / "mixed.jsonl"
    path.write_bytes(_log_bytes(30_000, seed=5))
    return path


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("POLICYENGINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "policyengine", *args], input=stdin, capture_output=True,
                          cwd=cwd, env=env, timeout=120)

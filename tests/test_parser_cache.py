"""The analysed parser is cached between runs; a missing, damaged or unwritable cache changes nothing a user sees."""
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BROKEN = "policy p\nrule r {\n  on message where text contains\n  do delete\n}\n"


def _check(cache_dir: Path, policy: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", POLICYENGINE_CACHE_DIR=str(cache_dir))
    env.pop("POLICYENGINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "policyengine", "check", str(policy)], capture_output=True,
                          cwd=ROOT, env=env, timeout=120)


def test_cache_is_written_then_used_and_damage_is_rebuilt(tmp_path):
    policy = tmp_path / "broken.policy"
    policy.write_text(BROKEN, encoding="utf-8")
    cache = tmp_path / "cache"
    first = _check(cache, policy)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].stat().st_size > 1000
    # `contains` without its operand is a syntax error: exit 2 and a P-diagnostic on the file.
    assert first.returncode == 2 and "error[P" in first.stderr.decode() and "broken.policy:" in first.stderr.decode()

    second = _check(cache, policy)
    assert (second.returncode, second.stdout, second.stderr) == (first.returncode, first.stdout, first.stderr)

    files[0].write_bytes(b"not a cache at all\n")
    damaged = _check(cache, policy)
    assert (damaged.returncode, damaged.stdout, damaged.stderr) == (first.returncode, first.stdout, first.stderr)
    assert files[0].read_bytes() != b"not a cache at all\n"          # rebuilt and rewritten


def test_unwritable_cache_folder_still_checks(tmp_path):
    policy = tmp_path / "broken.policy"
    policy.write_text(BROKEN, encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = _check(blocker / "cache", policy)          # a folder under a file cannot be made
    assert result.returncode == 2 and "error[P" in result.stderr.decode() and "broken.policy:" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()

"""The wheel carries the grammar (loaded from inside the package) and the C module."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_grammar(tmp_path):
    # --no-build-isolation uses the setuptools the dev extras installed: no network needed.
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    wheel = next(tmp_path.glob("policyengine-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "policyengine/grammar/policy.lark" in names
        assert z.read("policyengine/grammar/policy.lark") == (ROOT / "grammar/policy.lark").read_bytes()
        assert any(n.endswith("entry_points.txt") for n in names)
        # The per-line checks in C are built into the wheel (gcc and Python's headers are there).
        assert any(n.startswith("policyengine/events/_lines.") and n.endswith(".so") for n in names), sorted(names)
        assert b"policyengine = policyengine.cli.main:entry" in z.read(
            next(n for n in names if n.endswith("entry_points.txt")))

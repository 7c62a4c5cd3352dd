"""The wheel carries the grammar and loads it from inside the package."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_grammar(tmp_path):
    # --no-build-isolation uses the hatchling the dev extras installed: no network needed.
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    wheel = next(tmp_path.glob("policyengine-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "policyengine/grammar/policy.lark" in names
        assert z.read("policyengine/grammar/policy.lark") == (ROOT / "grammar/policy.lark").read_bytes()
        assert any(n.endswith("entry_points.txt") for n in names)
        assert b"policyengine = policyengine.cli.main:entry" in z.read(
            next(n for n in names if n.endswith("entry_points.txt")))

"""Golden files for every diagnostic a user reads. Rewrite with `pytest --update-golden`, review the diff."""
from pathlib import Path

import orjson
import pytest

from policyengine.diagnostics import render_json, render_text
from policyengine.loader import load_paths

GOLDEN = Path(__file__).parent / "golden" / "diagnostics"
POLICIES = sorted(GOLDEN.glob("*.policy"))


def _render(policy: Path) -> tuple[str, str]:
    rel = policy.relative_to(Path(__file__).parent.parent)
    import os
    cwd = os.getcwd()
    os.chdir(Path(__file__).parent.parent)
    try:
        result = load_paths([str(rel)])
    finally:
        os.chdir(cwd)
    text = render_text(result.diagnostics, result.sources)
    as_json = orjson.dumps(render_json(result.diagnostics), option=orjson.OPT_INDENT_2).decode() + "\n"
    return text, as_json


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_rendered_diagnostics_match_golden(policy, update_golden):
    text, as_json = _render(policy)
    for suffix, got in ((".txt", text), (".json", as_json)):
        golden = policy.with_suffix(suffix)
        if update_golden:
            golden.write_text(got, encoding="utf-8")
        assert golden.exists(), f"no golden file {golden.name}: run pytest --update-golden and review it"
        assert got == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_every_diagnostic_points_inside_its_file(policy):
    _, as_json = _render(policy)
    source_lines = policy.read_text(encoding="utf-8").splitlines()
    for d in orjson.loads(as_json):
        span = d["span"]
        assert 1 <= span["line"] <= len(source_lines)
        assert 1 <= span["col"] <= len(source_lines[span["line"] - 1]) + 1
        assert d["code"][0] in "PCW"
        first_letter = next(c for c in d["message"] if c.isalpha())
        assert not first_letter.isupper() or d["message"].startswith("`"), d["message"]
        assert d["help"], f"{d['code']} has no help line"

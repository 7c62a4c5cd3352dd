"""Semantic cases as data: every case file under tests/cases and beside the policies."""
from pathlib import Path

import pytest

from policyengine.testing.cases import load_case_file, run_case

ROOT = Path(__file__).resolve().parents[1]
CASE_FILES = sorted((ROOT / "tests" / "cases").glob("*.toml")) + sorted((ROOT / "policies").rglob("tests/*.toml"))


def _cases():
    for path in CASE_FILES:
        data, lines = load_case_file(path)
        for case, line in zip(data.case, lines):
            yield pytest.param(path, data, case, line, id=f"{path.relative_to(ROOT)}:{line}")


@pytest.mark.parametrize("path,data,case,line", list(_cases()))
def test_case(path, data, case, line):
    result = run_case(case, path, data, line)
    assert result.ok, result.render()


def test_case_files_exist():
    assert len(CASE_FILES) >= 3

"""Parse + check + compile time by policy size. Times are measured, never asserted."""
from pathlib import Path

import pytest

from policyengine.compiler import compile_program
from policyengine.loader import load_paths, load_text

ROOT = Path(__file__).resolve().parents[1]


def _rules(n: int) -> str:
    return "\n".join(f'rule r{i} {{ on message where text contains "w{i}" and len(text) > {i % 7} '
                     f'when count(message where text contains "w{i}" by user within {i % 50 + 1}m) >= 3 '
                     f'do warn("w{i}") cooldown 1m per user }}' for i in range(n))


@pytest.mark.parametrize("n", [1, 10, 100])
def test_compile_rules(benchmark, n):
    text = _rules(n)
    benchmark(lambda: compile_program(load_text([("gen.policy", text)]).program))


def test_compile_community_pack(benchmark):
    benchmark(lambda: compile_program(load_paths([str(ROOT / "policies/community")]).program))

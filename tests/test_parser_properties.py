"""Laws of the front end: any text either checks or yields diagnostics inside the file; nothing raises."""
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyengine.loader import load_text

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "policies").rglob("*.policy"))]
SEEDS += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests/golden/diagnostics").glob("*.policy"))]
ALPHABET = st.sampled_from(list('{}()[]",./=<>!+-*%#\n\t 加微信広告abcdefrulondhwxy0123456789_:') +
                           ["rule", "on", "message", "where", "do", "let", "words", "count(", "within", "by", "10m",
                            "and", "or", "not", "contains", "any", "matches", "/x/i", "\"", "once per", "cooldown"])


def _assert_well_formed(text: str) -> None:
    started = time.perf_counter()
    result = load_text([("fuzz.policy", text)])
    assert time.perf_counter() - started < 2.0, "checking one small input must not hang"
    lines = text.splitlines() or [""]
    assert (result.program is None) == any(d.is_error for d in result.diagnostics)
    for d in result.diagnostics:
        assert d.code[0] in "PCW" and d.message and d.help is not None
        if d.span is not None:
            assert d.span.file == "fuzz.policy"
            assert 1 <= d.span.line <= max(len(lines), 1) + 1
            assert d.span.col >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_token_soup_never_raises(text):
    _assert_well_formed(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_raises(text):
    _assert_well_formed(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=8),
       st.text(alphabet='{}()"/=#\n x', max_size=3))
def test_mutated_policies_never_raise(seed, where, cut, insert):
    at = where % (len(seed) + 1)
    _assert_well_formed(seed[:at] + insert + seed[at + cut:])


def test_regression_one_level_table_found_by_hypothesis():
    # A mutated policy once crashed the transformer: Lark inlines a body with a single entry.
    for text in ['levels by points { 0 "新人" }', 'levels by points { }', 'levels by points replace { 0 "a" => promote("a") }']:
        _assert_well_formed(text)
    result = load_text([("one.policy", 'levels by points { 0 "新人" }\nrule r { on message do award_points(1) }')])
    assert result.program is not None and result.program.levels[0].entries[0][1] == "新人"

"""Rendering diagnostics: carets under wide CJK characters and tabs, numbering and the cap."""
from policyengine.diagnostics import Diagnostic, Span, render_text


def _caret_line(rendered: str) -> str:
    return [l for l in rendered.splitlines() if "^" in l][0]


def test_caret_accounts_for_wide_characters():
    src = '广告 == x\n'
    d = Diagnostic("C0203", "unknown field `x`", Span("f", 1, 7, 1, 8), "here", "fix it")
    line = _caret_line(render_text([d], {"f": src}))
    # "广告 == " is 2+2+1+2+1 = 8 columns wide, so the caret sits in column 9 of the source text.
    assert line == "  |" + " " + " " * 8 + "^ here"


def test_caret_accounts_for_tabs():
    src = '\tx\n'
    d = Diagnostic("C0203", "m", Span("f", 1, 2, 1, 3), "", "h")
    out = render_text([d], {"f": src})
    assert "1 |     x" in out
    assert _caret_line(out) == "  |     ^"


def test_many_diagnostics_are_numbered_and_capped():
    ds = [Diagnostic("C0203", f"m{i}", Span("f", 1, 1, 1, 2), "", "h") for i in range(25)]
    out = render_text(ds, {"f": "x\n"})
    assert "[1/25] error[C0203]: m0" in out and "[20/25]" in out and "[21/25]" not in out
    assert "… and 5 more" in out and out.rstrip().endswith("25 errors")


def test_colour_only_when_asked():
    d = Diagnostic("C0203", "m", Span("f", 1, 1, 1, 2), "", "h")
    assert "\x1b[" not in render_text([d], {"f": "x"})
    assert "\x1b[" in render_text([d], {"f": "x"}, colour=True)

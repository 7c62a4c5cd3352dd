"""Render diagnostics as text (rustc-style, colour only on a TTY) or as JSON objects."""
from __future__ import annotations

import unicodedata

from policyengine.diagnostics.diagnostic import Diagnostic

TAB_WIDTH = 4
DEFAULT_CAP = 20

_RED, _YELLOW, _BLUE, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[1m", "\x1b[0m"


def char_width(ch: str) -> int:
    """Terminal columns a character takes: CJK wide/full-width take two."""
    if ch == "\t":
        return TAB_WIDTH
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(c) for c in text)


def render_one(d: Diagnostic, sources: dict[str, str], colour: bool = False) -> str:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    sev_colour = {"warning": _YELLOW, "note": _BLUE}.get(d.severity, _RED)
    lines = [paint(_BOLD + sev_colour, f"{d.severity}[{d.code}]") + paint(_BOLD, f": {d.message}")]
    span = d.span
    source = sources.get(span.file) if span else None
    if span is not None:
        gutter = " " * len(str(span.line))
        lines.append(f"{gutter}{paint(_BLUE, '-->')} {span}")
        src_lines = source.splitlines() if source is not None else []
        if 1 <= span.line <= len(src_lines):
            text = src_lines[span.line - 1]
            start = span.col - 1
            end = span.end_col - 1 if span.end_line == span.line else len(text)
            end = max(end, start + 1)
            pad = display_width(text[:start])
            width = max(1, display_width(text[start:end]))
            shown = text.replace("\t", " " * TAB_WIDTH)
            bar = paint(_BLUE, "|")
            lines.append(f"{gutter} {bar}")
            lines.append(f"{paint(_BLUE, str(span.line))} {bar} {shown}")
            caret = " " * pad + paint(sev_colour, "^" * width + (f" {d.label}" if d.label else ""))
            lines.append(f"{gutter} {bar} {caret}")
            lines.append(f"{gutter} {bar}")
    for note in d.notes:
        lines.append(f"  = note: {note}")
    if d.help:
        lines.append(f"  = help: {d.help}")
    return "\n".join(line.rstrip() for line in lines)


def render_text(diagnostics: list[Diagnostic], sources: dict[str, str], colour: bool = False,
                cap: int = DEFAULT_CAP) -> str:
    """All diagnostics, numbered when there are several, capped with '… and N more'."""
    shown = diagnostics[:cap]
    parts = []
    for i, d in enumerate(shown, 1):
        block = render_one(d, sources, colour)
        if len(diagnostics) > 1:
            block = f"[{i}/{len(diagnostics)}] " + block
        parts.append(block)
    if len(diagnostics) > cap:
        parts.append(f"… and {len(diagnostics) - cap} more")
    summary = []
    for severity in ("error", "warning", "note"):
        n = sum(1 for d in diagnostics if d.severity == severity)
        if n:
            summary.append(f"{n} {severity}{'s' if n != 1 else ''}")
    if summary:
        parts.append(", ".join(summary))
    return "\n\n".join(parts) + "\n"


def render_json(diagnostics: list[Diagnostic]) -> list[dict]:
    return [d.to_json() for d in diagnostics]

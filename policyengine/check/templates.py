"""Message and reason templates: `"{count} ads in 10 minutes"`, `"hello {user}"`.

`{name}` interpolates a field, a definition or `count` (the one count in the rule's
conditions); `{{` and `}}` stand for literal braces.
"""
from __future__ import annotations

import re

from policyengine.diagnostics import Span

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"^[^\W\d]\w*(\.[^\W\d]\w*)*$")


def split_template(text: str) -> list[tuple[str, str, int]]:
    """Parts as (kind, value, offset): kind is 'text', 'name' or 'bad'."""
    parts: list[tuple[str, str, int]] = []
    pos, buf = 0, []
    for m in _PLACEHOLDER.finditer(text):
        buf.append(text[pos:m.start()])
        token = m.group(0)
        if token in ("{{", "}}"):
            buf.append(token[0])
        elif token in ("{", "}"):
            parts.append(("text", "".join(buf), 0))
            buf = []
            parts.append(("bad", token, m.start()))
        else:
            parts.append(("text", "".join(buf), 0))
            buf = []
            parts.append(("name", m.group(1).strip(), m.start()))
        pos = m.end()
    buf.append(text[pos:])
    parts.append(("text", "".join(buf), 0))
    return [p for p in parts if p != ("text", "", 0)]


def placeholder_span(literal_span: Span, offset: int, length: int) -> Span:
    """Best effort: exact when the string has no escapes before the placeholder."""
    col = literal_span.col + 1 + offset
    return Span(literal_span.file, literal_span.line, col, literal_span.line, col + length)


def is_path(name: str) -> bool:
    return bool(_PATH.match(name))



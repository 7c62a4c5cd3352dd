"""Print diagnostics and messages to stderr: colour only on a TTY, JSON when asked."""
from __future__ import annotations

import os
import sys

import orjson

from policyengine.diagnostics import Diagnostic, render_json, render_text


def use_colour(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def print_diagnostics(diagnostics: list[Diagnostic], sources: dict[str, str], fmt: str, stream=None) -> None:
    stream = stream or sys.stderr
    if fmt == "json":
        stream.write(orjson.dumps(render_json(diagnostics), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif diagnostics:
        stream.write(render_text(diagnostics, sources, colour=use_colour(stream)))


def usage_error(message: str) -> None:
    sys.stderr.write(f"error[E0001]: {message}\n")

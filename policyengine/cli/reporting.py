"""Print diagnostics and messages to stderr: colour only on a TTY, JSON when asked."""
from __future__ import annotations

import os
import sys

import orjson

from policyengine.diagnostics import Diagnostic, render_json, render_text


# Control characters (C0, DEL, C1) from events, shown escaped in what a person reads on a terminal:
# a member named "\x1b[2J" cleared the moderator's screen, and a newline in a name split a decision's
# line in two (JSON Lines output escapes them already).
_CONTROL = ({c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
            | {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})


def printable(value) -> str:
    """`value` as text for a terminal: its control characters escaped as Python writes them."""
    return str(value).translate(_CONTROL)


def silence_stdout() -> None:
    """Standard output pointed at /dev/null: what it could not take (a reader gone, a full disk) is
    not tried again when Python flushes it at exit, which said the error a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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

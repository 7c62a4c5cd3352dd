"""One diagnostic: a stable code, a message, a labelled span and a help line."""
from __future__ import annotations

import msgspec

from policyengine.diagnostics.span import Span


class Diagnostic(msgspec.Struct, frozen=True):
    code: str              # P… parse, C… check, W… warning, N… note, R… runtime, E… input/usage
    message: str           # lowercase fragment, names in backticks
    span: Span | None
    label: str = ""        # text under the caret
    help: str = ""         # proposes an action
    notes: tuple[str, ...] = msgspec.field(default_factory=tuple)

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "note" if self.code.startswith("N") else "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict:
        out = {"code": self.code, "severity": self.severity, "message": self.message,
               "span": self.span.to_json() if self.span else None,
               "label": self.label, "help": self.help}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class DiagnosticError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic collected so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics


def sort_key(d: Diagnostic):
    if d.span is None:
        return ("", 0, 0, d.code)
    return (d.span.file, d.span.line, d.span.col, d.code)

"""Diagnostics: spans, the diagnostic record, its text and JSON renderings."""
from policyengine.diagnostics.diagnostic import Diagnostic, DiagnosticError, sort_key
from policyengine.diagnostics.render import render_json, render_text
from policyengine.diagnostics.span import Span

__all__ = ["Diagnostic", "DiagnosticError", "Span", "render_json", "render_text", "sort_key"]

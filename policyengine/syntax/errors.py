"""Turn Lark's parse errors into diagnostics a community manager can act on.

Users never see terminal names like `RPAR`: each expected terminal is described in words.
"""
from __future__ import annotations

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policyengine.diagnostics import Diagnostic, Span

_DESCRIBED = {
    "NAME": "a name", "STRING": "a string", "NUMBER": "a number", "INT": "a whole number",
    "DURATION": "a duration such as `10m`", "REGEX": "a regular expression `/…/`",
    "CMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/` or `%`",
    "AGG_NAME": "an aggregate such as `count(`", "$END": "the end of the file", "PLUS": "`+`",
}
_EXPRESSION_STARTS = {"NAME", "STRING", "NUMBER", "DURATION"}
_DURATION_HELP = "durations are written as a number and a unit: `500ms`, `30s`, `10m`, `1h`, `7d`, `2w`, or combined as `1h30m`"


def _describe(term: str, terminals: dict[str, str]) -> str:
    if term in _DESCRIBED:
        return _DESCRIBED[term]
    literal = terminals.get(term)
    return f"`{literal}`" if literal is not None else term.lower()


_CLAUSE_WORDS = {"WHEN", "UNLESS", "DO", "REASON", "ONCE", "COOLDOWN"}
_OPERATORS = {"CMP_OP", "ADD_OP", "MUL_OP", "DOT", "IN", "CONTAINS", "STARTS", "ENDS", "MATCHES", "HAS", "AND", "OR", "NOT"}


def _expected_text(expected: set[str], terminals: dict[str, str]) -> str:
    if len(expected & _OPERATORS) >= 3:
        # After a complete value nearly everything may follow; name the clause words only.
        words = sorted(_describe(t, terminals) for t in expected & _CLAUSE_WORDS)
        return "an operator" + (f" or {', '.join(words[:5])}" if words else "")
    if _EXPRESSION_STARTS <= expected:
        rest = sorted(_describe(t, terminals) for t in expected - _EXPRESSION_STARTS - {"AGG_NAME", "LPAR", "LSQB", "MINUS", "REGEX", "TRUE", "FALSE", "NOT"})
        return "an expression" + (f" or {', '.join(rest[:4])}" if rest else "")
    described = sorted(_describe(t, terminals) for t in expected)
    if len(described) > 6:
        return ", ".join(described[:6]) + ", …"
    return " or ".join(described) if len(described) <= 2 else ", ".join(described[:-1]) + " or " + described[-1]


def _help_for(expected: set[str], token_type: str, token_text: str, before: str, after: str = "") -> str:
    if token_type in ("INT", "NUMBER") and after[:1].isalpha():
        return _DURATION_HELP
    if token_type == "$END" and "RBRACE" in expected:
        return "a `{` is still open: close it with `}`"
    if token_type == "EQUAL" or token_text == "=":
        return "compare with `==`; a single `=` only appears in `let` and `words`"
    if token_type == "NAME" and before[-1:].isdigit():
        return _DURATION_HELP
    if "DO" in expected and token_type not in ("DO",):
        return 'a rule lists its actions after `do`, e.g. `do delete, warn("…")`'
    if "ON" in expected:
        return "a rule starts with its trigger, e.g. `on message where …`"
    if "EQUAL" in expected:
        return "a definition is written `let NAME = …` or `words NAME = [\"…\"]`"
    if token_type in ("LET", "RULE", "WORDS", "POLICY", "EVENT", "EXEMPT", "LADDER", "LEVELS", "EVERY"):
        return "the item before this one is not finished"
    if token_type == "NAME" and {"COMMA", "RPAR"} <= expected:
        return "separate arguments with `,`"
    return ""


def to_diagnostic(err: UnexpectedInput, file: str, source: str, parser: lark.Lark) -> Diagnostic:
    terminals = {t.name: t.pattern.value for t in parser.terminals
                 if isinstance(t.pattern, lark.lexer.PatternStr)}
    if isinstance(err, UnexpectedCharacters):
        line_text = source.splitlines()[err.line - 1] if source else ""
        ch = line_text[err.column - 1:err.column] or source[err.pos_in_stream:err.pos_in_stream + 1]
        span = Span(file, err.line, err.column, err.line, err.column + 1)
        if ch == '"':
            return Diagnostic("P0102", "unterminated string", span, "this string is not closed",
                              'close the string with `"` on the same line; write `\\n` for a line break')
        if ch in "'“”‘’「」":
            return Diagnostic("P0103", f"unexpected character `{ch}`", span, "not a string quote",
                              'strings are written between straight double quotes: "…"')
        if ch == "/":
            return Diagnostic("P0105", "unterminated regular expression", span, "this `/` is not closed",
                              "close the pattern with `/` on the same line; write `\\/` for a slash inside it")
        expected = set(err.allowed or ())
        label = f"expected {_expected_text(expected, terminals)}" if expected else "not allowed here"
        return Diagnostic("P0101", f"unexpected character `{ch}`", span, label,
                          _help_for(expected, "", ch, line_text[:err.column - 1]) or
                          "remove it, or put text inside a string")
    if isinstance(err, UnexpectedToken):
        tok = err.token
        expected = set(err.expected or err.accepts or ())
        if tok.type == "$END":
            lines = source.splitlines() or [""]
            last = len(lines)
            col = len(lines[-1]) + 1
            span = Span(file, last, max(col - 1, 1), last, col)
            return Diagnostic("P0002", "unexpected end of file", span,
                              f"expected {_expected_text(expected, terminals)}",
                              _help_for(expected, "$END", "", ""))
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(str(tok)))
        before = source[:tok.start_pos] if tok.start_pos is not None else ""
        return Diagnostic("P0001", f"unexpected {_describe_token(tok)}", span,
                          f"expected {_expected_text(expected, terminals)}",
                          _help_for(expected, tok.type, str(tok), before,
                                    source[tok.end_pos:tok.end_pos + 1] if tok.end_pos is not None else ""))
    if isinstance(err, UnexpectedEOF):
        lines = source.splitlines() or [""]
        return Diagnostic("P0002", "unexpected end of file",
                          Span(file, len(lines), 1, len(lines), len(lines[-1]) + 1), "", "")
    return Diagnostic("P0001", "syntax error", None, "", "")


def _describe_token(tok) -> str:
    text = str(tok)
    if tok.type == "STRING":
        return f"string {text}"
    if tok.type == "NAME":
        return f"name `{text}`"
    return f"`{text}`"

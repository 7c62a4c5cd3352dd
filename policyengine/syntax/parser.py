"""Parse policy source text into AST items, collecting every syntax error it can find.

The whole file is parsed first; if that fails, the file is cut at each line that starts
a top-level item in column 1 and the pieces are parsed alone, so one bad rule does not
hide the errors (and the checkable items) of the others.
"""
from __future__ import annotations

import re

from lark.exceptions import UnexpectedInput

from policyengine import ast
from policyengine.diagnostics import Diagnostic
from policyengine.syntax.errors import to_diagnostic
from policyengine.syntax.grammar import parser
from policyengine.syntax.transformer import to_ast

_ITEM_START = re.compile(r"^(policy|let|words|event|exempt|rule|ladder|levels|every)\b", re.M)


def parse_module(source: str, path: str) -> tuple[ast.Module, list[Diagnostic]]:
    module = ast.Module(path=path, source=source)
    try:
        tree = parser().parse(source)
    except UnexpectedInput:
        items, diagnostics, broken = _parse_in_pieces(source, path)
        module.items = items
        module.broken_names = broken
        return module, diagnostics
    items, diagnostics = to_ast(tree, path)
    module.items = items
    return module, diagnostics


_DEFINITION = re.compile(r"^(?:let|words)\s+([^\W\d]\w*)")


def _parse_in_pieces(source: str, path: str) -> tuple[list, list[Diagnostic], set[str]]:
    starts = [m.start() for m in _ITEM_START.finditer(source)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(source))
    items: list = []
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()
    for begin, end in zip(starts, starts[1:]):
        piece = source[begin:end]
        if not piece.strip():
            continue
        # Pad with the newlines before the piece so Lark reports the file's own line numbers.
        padded = "\n" * source.count("\n", 0, begin) + piece
        try:
            tree = parser().parse(padded)
        except UnexpectedInput as err:
            diagnostics.append(to_diagnostic(err, path, source if end == len(source) else padded, parser()))
            # Uses of a definition that did not parse would only repeat its error.
            name = _DEFINITION.match(piece)
            if name:
                broken.add(name.group(1))
            continue
        piece_items, piece_diags = to_ast(tree, path)
        items.extend(piece_items)
        diagnostics.extend(piece_diags)
    return items, diagnostics, broken

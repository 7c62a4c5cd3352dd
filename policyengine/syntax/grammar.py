"""Load the Lark grammar shipped with the package and build the one parser we use."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark

GRAMMAR_NAME = "policy.lark"


def grammar_text() -> str:
    """The grammar from inside the installed package; a source checkout falls back to `grammar/`."""
    packaged = resources.files("policyengine").joinpath("grammar", GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable installs do not carry force-included files; the checkout's copy is the same file.
    return (Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def parser() -> lark.Lark:
    return lark.Lark(grammar_text(), start="module", parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=True)

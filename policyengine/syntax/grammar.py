"""Load the Lark grammar shipped with the package and build the one parser we use."""
from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark

from policyengine.user_cache import cache_folder

GRAMMAR_NAME = "policy.lark"


def grammar_text() -> str:
    """The grammar from inside the installed package; a source checkout falls back to `grammar/`."""
    packaged = resources.files("policyengine").joinpath("grammar", GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable installs do not carry force-included files; the checkout's copy is the same file.
    return (Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME).read_text(encoding="utf-8")


def cache_file() -> str | None:
    """Where the analysed parser is kept between runs. Building the LALR tables takes ~0.5 s, most of
    a short `policyengine check`; loading them takes ~20 ms. Lark keys the file by the grammar's
    hash and checks it on load, so a changed grammar rebuilds."""
    base = cache_folder()
    return None if base is None else os.path.join(base, f"parser-lark{lark.__version__}.cache")


@lru_cache(maxsize=1)
def parser() -> lark.Lark:
    # Lark writes the cache quietly and, if it cannot, carries on without it.
    return lark.Lark(grammar_text(), start="module", parser="lalr", lexer="contextual",
                     propagate_positions=True, maybe_placeholders=True, cache=cache_file() or False)

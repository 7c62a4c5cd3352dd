"""Find policy files (files or folders of `*.policy`), parse and check them together."""
from __future__ import annotations

from pathlib import Path

import msgspec

from policyengine.check import CheckedProgram, check_program
from policyengine.diagnostics import Diagnostic, sort_key


class PolicyPathError(Exception):
    """A named policy path is missing or holds no policy file (a usage error, exit 3)."""


class LoadResult(msgspec.Struct):
    program: CheckedProgram | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]            # path → text, for rendering diagnostics
    files: list[str]


def policy_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(p.rglob("*.policy"))
            if not found:
                raise PolicyPathError(f"{raw}: no *.policy files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise PolicyPathError(f"{raw}: no such file or folder")
    return list(dict.fromkeys(files))


def load_text(named: list[tuple[str, str]]) -> LoadResult:
    """Parse and check in-memory sources: (path, text) pairs."""
    # Lark loads only when something is parsed: `eval` with a cached program never does (compiler/cache.py).
    from policyengine.syntax import parse_module
    modules, diagnostics, sources = [], [], {}
    for path, text in named:
        sources[path] = text
        module, diags = parse_module(text, path)
        modules.append(module)
        diagnostics.extend(diags)
    program, check_diags = check_program(modules)
    diagnostics.extend(check_diags)
    diagnostics.sort(key=sort_key)
    if any(d.is_error for d in diagnostics):
        program = None
    return LoadResult(program, diagnostics, sources, [p for p, _ in named])


def read_policies(paths: list[str]) -> list[tuple[str, str]]:
    """(path, text) of each policy file the paths name, in load order."""
    named = []
    for f in policy_files(paths):
        try:
            named.append((str(f), f.read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError) as err:
            raise PolicyPathError(f"{f}: cannot read: {err}") from None
    return named


def load_paths(paths: list[str]) -> LoadResult:
    return load_text(read_policies(paths))

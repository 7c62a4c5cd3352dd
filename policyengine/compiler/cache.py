"""Compiled programs kept between runs of `eval`, under a key that covers everything they come from.

Parsing and checking the policies and generating and compiling their code was more than half of
`eval`'s start: importing Lark alone is 108M instructions, and the whole start 690M, against
~300M with the compiled program read from here. On a 1M-event replay that is 5 % of the run.

The key is a digest of: each policy file's path and text; the `explain` and `profile` flags; the engine's own
code (the size and modification time of every file in the package, as Python checks its .pyc
files; the version is one of them); the Python and msgspec versions (the entry holds marshalled code and
pickled Structs). Word lists read from files are not known before checking, so the entry lists
them with a digest of their text and a changed one is a miss.

An entry holds the checked program with its warnings, the plan, the pool of constants, the
record layout and the generated source with its code. Anything wrong with an entry — missing,
damaged, unreadable, from another build — is a miss: the policies are compiled as without a
cache, and the entry is written again. A program pickle cannot hold (a pool value without a
pickled form) would be compiled every time; none of the bundled ones is (level formulas are
`LevelFormula` Structs for this). A program with errors is never kept: its diagnostics come from
checking it.
"""
from __future__ import annotations

import hashlib
import marshal
import os
import pickle
import sys
import tempfile

import msgspec

from policyengine.check.words import text_digest
from policyengine.compiler.program import CompiledProgram, compile_program
from policyengine.loader import LoadResult, load_text, read_policies
from policyengine.user_cache import cache_folder

FORMAT = 1                 # of an entry; a change of layout changes it
KEEP = 64                  # entries kept; the oldest go first
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_compiled(paths: list[str], explain: bool = False,
                  profile: bool = False) -> tuple[LoadResult, CompiledProgram | None]:
    """The policies the paths name, checked, and their compiled program (None when they have
    errors; with `profile`, the program `eval --profile` runs): from the cache when an entry
    matches, else compiled and kept. Raises the loader's PolicyPathError as `load_paths` does."""
    named = read_policies(paths)
    folder = cache_folder()
    path = os.path.join(folder, f"compiled-{_key(named, explain, profile)}.pickle") if folder is not None else None
    if path is not None:
        kept = _read(path, named)
        if kept is not None:
            return kept
    loaded = load_text(named)
    if loaded.program is None:
        return loaded, None
    compiled = compile_program(loaded.program, explain, profile)
    if path is not None:
        _write(path, loaded, compiled)
    return loaded, compiled


def _key(named: list[tuple[str, str]], explain: bool, profile: bool) -> str:
    digest = hashlib.sha256()
    for part in (str(FORMAT), sys.version, msgspec.__version__, str(explain), str(profile), _code_stamp()):
        digest.update(part.encode() + b"\0")
    for path, text in named:
        digest.update(path.encode("utf-8", "surrogatepass") + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _code_stamp() -> str:
    """Name, size and modification time of every file of the package: any edit changes it."""
    stamps = []
    pending = [_PACKAGE]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif not entry.name.endswith(".pyc"):
                    info = entry.stat()
                    stamps.append(f"{os.path.relpath(entry.path, _PACKAGE)}:{info.st_size}:{info.st_mtime_ns}")
    return "\n".join(sorted(stamps))


def _read(path: str, named: list[tuple[str, str]]) -> tuple[LoadResult, CompiledProgram] | None:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)
        fmt, program, diagnostics, source, code, pool, plan, record = entry
        if fmt != FORMAT or not _word_files_unchanged(program.word_files):
            return None
        code = marshal.loads(code)
    except Exception:           # missing, damaged or from another build: a miss, whatever the reason
        return None
    loaded = LoadResult(program, diagnostics, dict(named), [p for p, _ in named])
    return loaded, CompiledProgram(source, code, pool, plan, record)


def _word_files_unchanged(word_files) -> bool:
    for path, digest in word_files:
        try:
            with open(path, encoding="utf-8-sig") as f:
                if text_digest(f.read()) != digest:
                    return False
        except (OSError, UnicodeDecodeError):
            return False
    return True


def _write(path: str, loaded: LoadResult, compiled: CompiledProgram) -> None:
    try:
        data = pickle.dumps((FORMAT, loaded.program, loaded.diagnostics, compiled.source,
                             marshal.dumps(compiled.code), compiled.pool, compiled.plan, compiled.record),
                            protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:           # a pool value without a pickled form: compiled every time
        return
    folder = os.path.dirname(path)
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".compiled-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)      # whole or not at all, whoever else writes the same entry
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass
        return
    _evict(folder)


def _evict(folder: str) -> None:
    entries = []
    for entry in os.scandir(folder):
        if entry.name.startswith("compiled-"):
            try:
                entries.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                pass
    for _, old in sorted(entries)[:-KEEP]:
        try:
            os.remove(old)
        except OSError:
            pass

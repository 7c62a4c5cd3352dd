"""Word lists: inline, or read from a file beside the policy (never from elsewhere)."""
from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from policyengine import ast
from policyengine.check.scope import ModuleScope


def load_words(item: ast.WordsDef, policy_path: str, scope: ModuleScope) -> tuple[str, ...]:
    if item.items is not None:
        out = []
        for entry in item.items.items:
            if isinstance(entry, ast.Literal) and entry.kind == "text":
                out.append(entry.value)
            else:
                scope.error("C0704", "a word list holds strings only", entry.span, "not a string",
                            'write each entry in double quotes: "…"')
        return _clean(out)
    name = item.file or ""
    rel = PurePosixPath(name.replace("\\", "/"))
    if not name or rel.is_absolute() or ".." in rel.parts or (len(name) > 1 and name[1] == ":"):
        scope.error("C0702", f"word list file `{name}` must be beside the policy", item.file_span,
                    "outside the policy's folder", "put the file in the policy's folder (or below it) and name it relatively")
        return ()
    folder = Path(policy_path).resolve().parent
    path = (folder / rel).resolve()
    if folder != path and folder not in path.parents:
        scope.error("C0702", f"word list file `{name}` must be beside the policy", item.file_span,
                    "leads outside the policy's folder", "copy the file into the policy's folder")
        return ()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        scope.error("C0701", f"word list file `{name}` not found", item.file_span, "no such file beside the policy",
                    "create the file (one entry per line) or fix the name")
        return ()
    except (OSError, UnicodeDecodeError) as err:
        scope.error("C0701", f"word list file `{name}` cannot be read: {err}", item.file_span, "unreadable",
                    "save it as UTF-8 text, one entry per line")
        return ()
    scope.word_files[str(path)] = text_digest(text)     # the compiled-program cache checks it is unchanged
    return _clean(line.split("#", 1)[0] if line.lstrip().startswith("#") else line for line in text.splitlines())


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(entries) -> tuple[str, ...]:
    """Trimmed, blank lines and comment lines dropped, duplicates removed, order kept."""
    return tuple(dict.fromkeys(e.strip() for e in entries if e.strip()))

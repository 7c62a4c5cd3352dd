"""Indented Python source writer, and the pool that keeps policy text out of generated code.

Every string, list, regex and table a policy brings reaches the generated code as a
pool entry bound by index — never as source text — so no policy can inject code.
"""
from __future__ import annotations


class CodeWriter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append(("    " * self.depth + text) if text else "")

    def indent(self) -> "CodeWriter":
        self.depth += 1
        return self

    def dedent(self) -> None:
        self.depth -= 1

    def nested(self, inner: "CodeWriter") -> None:
        """`inner`'s lines one level deeper than it wrote them (the body of a test just written)."""
        self.lines += ["    " + line if line else line for line in inner.lines]

    def caught(self, report: str) -> None:
        """The end of a handler step's `try` (opened at depth 1): what the step raised goes to
        `report` (`rule_failed` or `aggregate_failed` with the step's index), and the next step runs."""
        self.depth = 1
        self.line("except Exception as exc:")
        self.line(f"    {report}")

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"


class Pool:
    """Objects the generated code reads by name P0, P1, …; equal objects share a name."""

    def __init__(self) -> None:
        self.values: list[object] = []
        self._index: dict[tuple, str] = {}

    def add(self, value: object, key: tuple | None = None) -> str:
        key = key if key is not None else (type(value).__name__, repr(value))
        name = self._index.get(key)
        if name is None:
            name = f"P{len(self.values)}"
            self._index[key] = name
            self.values.append(value)
        return name

    def made(self, key: tuple, make) -> str:
        """The name of the object `key` stands for, `make()` called only the first time: a word
        list's matchers are built once however many handlers test it."""
        name = self._index.get(key)
        return name if name is not None else self.add(make(), key)

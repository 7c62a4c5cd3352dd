"""Source positions: 1-based lines and columns, end exclusive, as users count them."""
from __future__ import annotations

import msgspec


class Span(msgspec.Struct, frozen=True):
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col,
                "end_line": self.end_line, "end_col": self.end_col}

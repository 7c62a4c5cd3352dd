"""Source positions: 1-based lines and columns, end exclusive, as users count them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
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

    def cover(self, other: "Span") -> "Span":
        """The smallest span holding both."""
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(self.file, start[0], start[1], end[0], end[1])

    def shifted(self, line_offset: int) -> "Span":
        return Span(self.file, self.line + line_offset, self.col,
                    self.end_line + line_offset, self.end_col)

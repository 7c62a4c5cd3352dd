"""Decode the escapes in string literals; report bad ones with their exact column."""
from __future__ import annotations

_SIMPLE = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


class EscapeError(ValueError):
    def __init__(self, offset: int, length: int, message: str):
        super().__init__(message)
        self.offset = offset          # offset inside the literal, quotes included
        self.length = length


def decode_string(literal: str) -> str:
    """`literal` includes its quotes."""
    body = literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _SIMPLE:
            out.append(_SIMPLE[nxt])
            i += 2
        elif nxt == "u" and body[i + 2:i + 3] == "{":
            close = body.find("}", i + 3)
            digits = body[i + 3:close] if close != -1 else ""
            if close == -1 or not digits or len(digits) > 6 or any(c not in "0123456789abcdefABCDEF" for c in digits) \
                    or int(digits, 16) > 0x10FFFF:
                raise EscapeError(i + 1, (close - i + 1) if close != -1 else 2,
                                  "a unicode escape is written `\\u{hex digits}`")
            out.append(chr(int(digits, 16)))
            i = close + 1
        else:
            raise EscapeError(i + 1, 2, f"unknown escape `\\{nxt}`")
    return "".join(out)

"""'Did you mean' suggestions by edit distance."""
from __future__ import annotations

import difflib


def did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""

"""The user's private cache folder: the analysed parser (syntax/grammar.py) and compiled programs
(compiler/cache.py) are kept there between runs.

Private, not /tmp: both are pickles, and a pickle others can write is code others can run.
`POLICYENGINE_CACHE_DIR` names another folder; `off` keeps nothing.
"""
from __future__ import annotations

import os


def cache_folder() -> str | None:
    """The folder, made if need be; None when caching is off or the folder cannot be written."""
    chosen = os.environ.get("POLICYENGINE_CACHE_DIR")
    if chosen == "off":
        return None
    base = chosen or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "policyengine")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not os.access(base, os.W_OK):
        return None
    return base

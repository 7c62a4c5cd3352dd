"""Matchers compiled from policy constants: word lists (Aho–Corasick) and regexes (RE2, linear time).

Measured on the development machine (docs/performance.md): a Python `re` alternation of
2 000 words costs 10.6 µs per message and grows with the list; Aho–Corasick stays at
0.3 µs from 20 to 20 000 words. Python `re` can take exponential time on hostile text
(`(a+)+$` needs 0.37 s for 22 characters); RE2 does 100 kB in 0.2 ms, at about 1.8 µs per
search on chat messages against 0.5 µs for `re`.
"""
from __future__ import annotations

import ahocorasick
import re2

try:   # the raw matcher skips the wrapper's per-call offset bookkeeping (3.3 → 1.8 µs)
    from re2 import _re2
    _UNANCHORED = _re2.RE2.Anchor.UNANCHORED
except (ImportError, AttributeError):  # pragma: no cover - another google-re2 layout
    _re2 = None

_NULL_SPAN = (-1, -1)
_FLAG_PREFIX = {"i": "i", "m": "m", "s": "s"}


class RegexError(ValueError):
    pass


class SafeRegex:
    """A policy regex run by RE2: never backtracks, so matching time is linear in the text."""

    __slots__ = ("pattern", "flags", "_search", "_raw")

    def __init__(self, pattern: str, flags: str = ""):
        self.pattern, self.flags = pattern, flags
        inline = "".join(_FLAG_PREFIX[f] for f in flags)
        options = re2.Options()
        options.log_errors = False
        try:
            compiled = re2.compile(f"(?{inline}){pattern}" if inline else pattern, options)
        except re2.error as err:
            raise RegexError(str(err)) from None
        self._raw = compiled._regexp if _re2 is not None and hasattr(compiled, "_regexp") else None
        self._search = compiled.search

    def search(self, text: str) -> bool:
        if self._raw is not None:
            data = text.encode()
            return self._raw.Match(_UNANCHORED, data, 0, len(data))[0] != _NULL_SPAN
        return self._search(text) is not None

    def __repr__(self) -> str:
        return f"SafeRegex({self.pattern!r}, {self.flags!r})"


class WordMatcher:
    """Case-folded words found anywhere in a case-folded text, in one pass whatever the list size."""

    __slots__ = ("words", "_automaton", "scan")

    def __init__(self, words: list[str]):
        self.words = tuple(words)
        automaton = ahocorasick.Automaton()
        for i, word in enumerate(self.words):
            automaton.add_word(word, i)
        automaton.make_automaton()
        self._automaton = automaton
        # Generated code tests `next(M.scan(text), None) is not None`: all C calls, where a
        # Python-level `any` cost 0.25 µs more per message.
        self.scan = automaton.iter

    def any(self, text: str) -> bool:
        for _ in self._automaton.iter(text):
            return True
        return False

    def all(self, text: str) -> bool:
        seen = {i for _, i in self._automaton.iter(text)}
        return len(seen) == len(self.words)

    def __repr__(self) -> str:
        return f"WordMatcher({len(self.words)} words)"


class PythonWordSet:
    """A word list's `contains any`: WordSet(text) is True when one of the words is in the text.
    The definition runtime/_words.c is held to (tests/test_words.py); in C it is one pass over the
    text, a bit test a character, where the Python form is one search a word. `fallback`, a long
    list's matcher of the same words (WordMatcher.any), is what the C form asks for a text that
    would cost it more than that matcher's pass; it never changes an answer."""

    __slots__ = ("words",)

    def __init__(self, words, fallback=None) -> None:
        self.words = tuple(words)

    def __call__(self, text: str) -> bool:
        for word in self.words:
            if word in text:
                return True
        return False

    def __reduce__(self):
        return (self.__class__, (self.words,))

    def __repr__(self) -> str:
        return f"WordSet({len(self.words)} words)"


WordSet = PythonWordSet
try:                                          # the same in C where it was built (runtime/_words.c)
    from policyengine.runtime._words import WordSet  # noqa: F811
except ImportError:  # pragma: no cover - the extension is optional
    pass

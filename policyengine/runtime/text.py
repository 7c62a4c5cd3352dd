"""Text helpers for spam detection: normalisation, near-duplicate fingerprints, per-message measures."""
from __future__ import annotations

import re
import unicodedata
import zlib

import re2

from policyengine.events.native import NORMALIZE_UNICODE, casefold, native_normalize, set_normalize_fallback

try:
    from re2 import _re2
    _UNANCHORED = _re2.RE2.Anchor.UNANCHORED
except (ImportError, AttributeError):  # pragma: no cover
    _UNANCHORED = None

# Run on RE2: hostile text must not make these take more than linear time. (The first version of
# the URL pattern, on Python's re, took 277 s on "a." repeated 50 000 times.)
_URL = re2.compile(r"(?i)(?:https?://|www\.)[^\s<>\"]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|cn|me|ly|gg|xyz|top|info)\b(?:/[^\s<>\"]*)?")
_MENTION = re2.compile(r"(?:^|[^\w@])@[^\s@]+")
SIMHASH_CHARS = 2000      # near-duplicate fingerprints read this much of a message, so 100 kB stays cheap


# Format characters (zero-width spaces and joiners, BOM, bidi marks, soft hyphen, tags). A set
# test costs 0.6 µs on a chat message; a regex character class of the same was measured at 11 µs.
# Built on first use: finding them takes 65 000 category lookups (~19 ms), which start-up paid
# for every program, most of which never normalize text.
_FORMAT: frozenset = frozenset()
_DROP_FORMAT: dict = {}


def _format_chars() -> frozenset:
    global _FORMAT, _DROP_FORMAT
    _DROP_FORMAT = {cp: None for cp in [*range(0x10000), *range(0xE0000, 0xE0080)]
                    if unicodedata.category(chr(cp)) == "Cf"}
    _FORMAT = frozenset(map(chr, _DROP_FORMAT))
    return _FORMAT
_nfkc = unicodedata.normalize
_is_nfkc = unicodedata.is_normalized


def normalize_in_python(text):
    """The form repeats and word lists compare: NFKC (full-width → half-width), case-folded,
    without white space and invisible format characters, so `加 微 信`, `加\u200b微信` and
    `ＷｅＣｈａｔ` all read as `加微信` / `wechat`. Every step runs in C; measured 4–6 µs for a
    30-character Chinese message with full-width punctuation, most of it NFKC."""
    if text.__class__ is not str:
        return None
    if not _is_nfkc("NFKC", text):
        text = _nfkc("NFKC", text)
    text = "".join(casefold(text).split())
    return text if (_FORMAT or _format_chars()).isdisjoint(text) else text.translate(_DROP_FORMAT)


# Text whose every character is kept, dropped or full-width ASCII (events/normalize_table.py) is
# normalised in C, in one pass; other text comes back here. The table is used only with the
# Unicode data it was made from.
if native_normalize is not None and NORMALIZE_UNICODE == unicodedata.unidata_version:
    set_normalize_fallback(normalize_in_python)
    normalize = native_normalize
else:                                                     # pragma: no cover - no C, or other Unicode data
    normalize = normalize_in_python


def _count(pattern, text) -> int:
    """Non-overlapping matches, through RE2's raw matcher (its finditer wrapper was 17 µs a call)."""
    raw = getattr(pattern, "_regexp", None)
    if raw is None or _UNANCHORED is None:               # pragma: no cover - another google-re2 layout
        return sum(1 for _ in pattern.finditer(text))
    data = text.encode()
    end, pos, n = len(data), 0, 0
    while pos <= end:
        span = raw.Match(_UNANCHORED, data, pos, end)[0]
        if span[0] < 0:
            return n
        n += 1
        pos = span[1] if span[1] > span[0] else span[1] + 1
    return n


# What every link _URL finds holds: a "://", "www." (a "." after a "w"), or a "." before the first
# letter of one of its endings. RE2's case folding maps no character but the ASCII letters' two
# cases to these (tests/test_text_fast_paths.py checks every code point). Python's re is linear
# on it (fixed alternatives, no repetition), unlike the patterns above that run on RE2.
_LINK_HINT = re.compile(r"://|[wW]\.|\.[cnoimlgxtCNOIMLGXT]")


def python_link_hint(text) -> bool:
    """Whether the text can hold a link `link_count` counts; False for what is not a str."""
    return text.__class__ is str and _LINK_HINT.search(text) is not None


link_hint = python_link_hint
try:                                                      # in C where it was built (runtime/_words.c)
    from policyengine.runtime._words import link_hint     # noqa: F811
except ImportError:                                       # pragma: no cover - no C compiler at install
    pass


def python_link_count_of(text, count) -> int | None:
    """`link_count` with its counting function given (`links_in`): None for what is not a str; 0
    without a link's hint — most chat messages hold no link, and a scan for the hint costs less
    than encoding the text for RE2 (a "." test before it let every sentence with a full stop
    through); else RE2's count. The generated code calls it (in C where built) for `link_count`."""
    if text.__class__ is not str:
        return None
    return count(text) if link_hint(text) else 0


link_count_of = python_link_count_of
try:                                                      # in C where it was built (runtime/_words.c)
    from policyengine.runtime._words import link_count_of  # noqa: F811
except ImportError:                                       # pragma: no cover - no C compiler at install
    pass


def link_count(text) -> int | None:
    return link_count_of(text, links_in)


def python_links_in(text: str) -> int:
    """link_count of a str whose hint was found already (link_count_of calls it after the hint)."""
    return _count(_URL, text)


def links_in_here():
    """This process's `links_in`: what a pickled one (a kept compiled program's pool) is loaded as."""
    return links_in


links_in = python_links_in
try:                                                      # in C where it was built (runtime/_words.c)
    from policyengine.runtime._words import LinkCounter
    if getattr(_URL, "_regexp", None) is not None and _UNANCHORED is not None:
        links_in = LinkCounter(_URL._regexp.Match, _UNANCHORED, links_in_here)
except ImportError:                                       # pragma: no cover - no C compiler at install
    pass


def mention_count(text) -> int | None:
    return _count(_MENTION, text) if text.__class__ is str else None


def caps_ratio(text) -> float | None:
    """Upper-case letters among cased letters (0 when there are none)."""
    if text.__class__ is not str:
        return None
    cased = [c for c in text if c.isupper() or c.islower()]
    return sum(1 for c in cased if c.isupper()) / len(cased) if cased else 0.0


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x1F900 <= cp <= 0x1F9FF
            or 0x2B00 <= cp <= 0x2BFF or cp in (0x200D, 0xFE0F, 0x3030, 0x303D, 0x3297, 0x3299))


def emoji_ratio(text) -> float | None:
    """Emoji among the characters that are not white space (0 for empty text)."""
    if text.__class__ is not str:
        return None
    visible = [c for c in text if not c.isspace()]
    return sum(1 for c in visible if _is_emoji(c)) / len(visible) if visible else 0.0


def _gram_hash(gram: str) -> int:
    """64 stable bits for a shingle (two CRC-32s; Python's hash() changes between processes)."""
    data = gram.encode()
    return zlib.crc32(data) << 32 | zlib.crc32(data, 0x9E3779B9)


_last: list = [None, 0]     # the last text and its fingerprint: an event's text is counted, then compared


def simhash(text: str) -> int:
    """64-bit SimHash over two-character shingles of the normalised text (suits Chinese, which has
    no spaces), reading at most SIMHASH_CHARS characters."""
    if text is _last[0]:
        return _last[1]
    value = _simhash(text)
    _last[0], _last[1] = text, value
    return value


def _simhash(text: str, shingle: int = 2) -> int:
    norm = (normalize(text[:SIMHASH_CHARS * 2]) or "")[:SIMHASH_CHARS]
    if len(norm) < shingle:
        grams = [norm] if norm else []
    else:
        grams = [norm[i:i + shingle] for i in range(len(norm) - shingle + 1)]
    # Bit b is set when more than half the shingles' hashes have it. The 64 counts are kept
    # bit-sliced — planes[j] holds bit j of every count — so adding a hash is a ripple of ANDs
    # and XORs on 64-bit integers (two steps on average) where a loop over the bits took 64.
    planes: list[int] = []
    for h in map(_gram_hash, grams):
        carry = h
        for j in range(len(planes)):
            plane = planes[j]
            planes[j] = plane ^ carry
            carry &= plane
            if not carry:
                break
        else:
            if carry:
                planes.append(carry)
    # count > half, for all 64 counts at once: compare the planes with `half` from the top bit down.
    half = len(grams) // 2
    above, equal = 0, _ALL
    for j in range(max(len(planes), half.bit_length()) - 1, -1, -1):
        plane = planes[j] if j < len(planes) else 0
        if half >> j & 1:
            equal &= plane
        else:
            above |= equal & plane
            equal &= ~plane
    return above


_ALL = (1 << 64) - 1


def similarity(a: int, b: int) -> float:
    """1 − Hamming distance / 64 between two SimHash fingerprints."""
    return 1.0 - bin(a ^ b).count("1") / 64

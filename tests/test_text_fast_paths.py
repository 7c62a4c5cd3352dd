"""`normalize` in C (events/_lines.c) against its definition in Python (runtime/text.py); the
short cut before RE2 in `link_count` against RE2 alone."""
import unicodedata
from pathlib import Path

import pytest
import re2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policyengine.events import native
from policyengine.events.normalize_table import header
from policyengine.runtime import text
from policyengine.runtime._words import LinkCounter, link_count_of as native_link_count_of, link_hint as native_link_hint
from policyengine.runtime.text import _URL, _count, link_count, normalize_in_python

TABLE = Path(text.__file__).parents[1] / "events" / "_normalize_table.h"


def test_the_c_normalize_is_used_exactly_when_its_table_matches_this_unicode_data():
    matches = native.NORMALIZE_UNICODE == unicodedata.unidata_version
    assert (text.normalize is native.native_normalize) == matches
    assert (text.normalize is normalize_in_python) == (not matches)


def test_the_table_is_what_its_script_writes_for_this_unicode_data():
    if native.NORMALIZE_UNICODE == unicodedata.unidata_version:
        assert TABLE.read_text() == header(normalize_in_python)
    else:                                   # made from other Unicode data: not used at all
        assert text.normalize is normalize_in_python


def test_every_character_alone_normalises_as_the_definition_says():
    wrong = [hex(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF
             and text.normalize(chr(code)) != normalize_in_python(chr(code))]
    assert wrong == []
    # Characters that become ASCII (full-width letters, upper case) make an ASCII str.
    assert all(text.normalize(c).isascii() for c in "ＷｅＣＨＡＴ１Ａ")


def test_text_that_does_not_change_comes_back_as_itself():
    for same in ("hello", "大家好,今天天气不错。", "🎉🎉", "ok!"):
        assert text.normalize(same) is same
    assert text.normalize("ＷｅＣｈａｔ 加\u200b微信") == "wechat加微信"
    # Past the 256 characters the C path keeps on its stack, and with a character it hands to Python at the end.
    long = "大家好，ＶＸ 加微信。Hello World! 🎉\u200b" * 40
    assert text.normalize(long) == normalize_in_python(long) == ("大家好,vx加微信。helloworld!🎉" * 40)
    assert text.normalize(long + "\u2460") == normalize_in_python(long + "\u2460")
    assert text.normalize(None) is None and text.normalize(12) is None


# Characters from every class the C path tells apart, and some it sends to Python: combining
# marks, hangul jamo, kana voicing marks, compatibility forms, characters outside the table.
_CHARS = st.one_of(
    st.sampled_from(list("aZ09 \t\n!~,.@#加微信群广告。，、！？「」ー가힣あアｶﾞ")),
    st.sampled_from(["\u200b", "\u200d", "\ufeff", "\u00a0", "\u3000", "\u2003", "\u00ad", "\u0085",
                     "\u0301", "\u0308", "\u3099", "\u309b", "\u1161", "\u11a8", "\u1100", "\ufe0f",
                     "\u2460", "\u2126", "\u212b", "\u00c5", "\u0130", "\u00df", "\ufb01", "\u2024",
                     "\uff21", "\uff41", "\uff10", "\uff5e", "\uff5f", "\uff65", "\u1e9e", "\U0001f389",
                     "\U0001f1e8", "\U0001f3fb", "\U000e0041", "\U00020000", "\u0130", "\u03a3"]),
    st.characters(blacklist_categories=("Cs",)),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_CHARS, max_size=40).map("".join))
def test_any_text_normalises_as_the_definition_says(sample):
    out = text.normalize(sample)
    assert out == normalize_in_python(sample)
    # A str of the narrowest kind, as Python makes it: == compares kinds, isascii reads the flag.
    assert out.isascii() == all(ord(c) < 128 for c in out)


# Text of characters the table keeps, with the marks that compose with them: a table that took a
# combining mark or the second half of a composition would leave `e` + U+0301 apart.
_COMPOSING = st.sampled_from(list("aeAEoOuU가か카ウ ") + ["\u0301", "\u0308", "\u030a", "\u3099", "\u309a",
                                                        "\u1161", "\u11a8", "\u0327"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_COMPOSING, max_size=12).map("".join))
@example("Cafe\u0301")
@example("\uac00\u11a8")
@example("\u304b\u3099")
def test_text_with_composing_marks_normalises_as_the_definition_says(sample):
    assert text.normalize(sample) == normalize_in_python(sample)


_LINKISH = st.lists(st.sampled_from(["http", "https", "://", "www", ".", "com", "cn", "io", "example", "加微信",
                                     " ", "/", "a", "-", "<", "\"", "HTTP", "WWW", ":", "。", "．", "Com", "NET",
                                     "w", "W", "ſ", "İ", "Ｃ", "top", "xyz", "Info", "me", "ly", "gg", "org", "1",
                                     "é", "👍", "\U0001d41c"]),       # texts of each str kind: 1, 2 and 4 bytes
                    max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(_LINKISH)
@example("www.example")
@example("w.a")
@example("Go to W.example now")
@example("a.xyz")
def test_link_count_skips_only_text_without_a_link(sample):
    # The test before RE2 must never hide a match: the count is RE2's own count on every text.
    assert link_count(sample) == _count(_URL, sample)
    assert link_count(sample) == sum(1 for _ in _URL.finditer(sample))
    assert native_link_hint(sample) is text.python_link_hint(sample)
    if not text.python_link_hint(sample):                   # no hint, no link: RE2 agrees
        assert _count(_URL, sample) == 0
    # The generated code's one call, in C and in Python, is RE2's count too, with the count in C
    # (which stops at a remainder without a hint) and in Python.
    for count_of in (native_link_count_of, text.python_link_count_of):
        for links_in in (text.links_in, text.python_links_in):
            assert count_of(sample, links_in) == _count(_URL, sample)
    assert text.links_in(sample) == sum(1 for _ in _URL.finditer(sample))       # without the hint first


def test_links_are_counted_in_c_to_the_last_one_by_hand():
    assert isinstance(text.links_in, LinkCounter)                 # built here: the C count is the one used
    for sample, links in (("http://a.io x", 1), ("a.com b.net", 2), ("http://x http://y", 2),
                          ("go www.x.org/p then ok.cat", 1),      # a hint after the link, and no link there
                          ("加微信 a.cn，再加 b.top 吧", 2), ("no link. ok", 0), ("", 0)):
        assert text.links_in(sample) == links, sample
        assert native_link_count_of(sample, text.links_in) == links, sample


def test_the_c_count_fails_as_the_python_count_does():
    with pytest.raises(UnicodeEncodeError):
        text.links_in("www.a\ud800")
    with pytest.raises(UnicodeEncodeError):
        text.python_links_in("www.a\ud800")
    with pytest.raises(TypeError):
        text.links_in(b"www.a.com")

    def broken(*_args):
        raise RuntimeError("match failed")
    with pytest.raises(RuntimeError, match="match failed"):
        LinkCounter(broken, text._UNANCHORED, text.links_in_here)("www.a.com")
    with pytest.raises(TypeError, match="spans"):
        LinkCounter(lambda *_args: None, text._UNANCHORED, text.links_in_here)("www.a.com")


def test_the_c_count_is_pickled_as_the_count_of_the_process_that_loads_it():
    # A kept compiled program (compiler/cache.py) pickles its pool, which holds the count.
    import pickle
    assert pickle.loads(pickle.dumps(text.links_in)) is text.links_in


def test_link_count_of_what_is_not_a_str_is_none_and_an_error_of_the_count_is_its_own():
    for count_of in (native_link_count_of, text.python_link_count_of):
        assert count_of(None, text.links_in) is None and count_of(["www.x"], text.links_in) is None
        assert count_of("no link here", None) == 0           # no hint: the count is not called

        def broken(_text):
            raise RuntimeError("count failed")
        with pytest.raises(RuntimeError, match="count failed"):
            count_of("www.example", broken)
    with pytest.raises(TypeError):
        native_link_count_of("www.example")


def test_the_hint_letters_fold_only_to_themselves_in_re2():
    # The hint looks for ASCII letters only, in both cases; RE2 matches `(?i)com` against every
    # character that folds to them, so no other character may (as "ſ" does for "s").
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    found = {m.group() for m in re2.finditer("(?i)[cnoimlgxtw]", everything)}
    assert found == set("cnoimlgxtwCNOIMLGXTW")


def test_a_hint_is_found_wherever_it_stands_in_text_of_each_kind():
    # The scan passes over whole blocks of characters (16 or 8 at a time) to the next "." or ":":
    # a hint at each place of texts of each width, with marks that are no hint before it, is
    # found where it is, and the text without it holds none.
    for pad in ("a", "é", "加", "😀"):
        for length in (1, 7, 8, 9, 15, 16, 17, 31, 40):
            for at in range(length):
                for hint in ("www.", "x.com", "http://"):
                    plain = pad * at + "a: b. " + pad * (length - at)
                    linked = pad * at + hint + pad * (length - at)
                    assert native_link_hint(plain) is False, (pad, length, at)
                    assert native_link_hint(linked) is text.python_link_hint(linked) is True, (pad, length, at, hint)
                    assert native_link_count_of(plain, text.links_in) == 0


def test_link_hint_by_hand():
    for linked in ("see http://x", "www.example", "WWW.EXAMPLE", "promo.example.com", "a.CN", "x.info",
                   "加微信 foo.top", "go to x.io/y"):
        assert native_link_hint(linked) is True and _count(_URL, linked) >= 1
    for plain in ("Hello.", "ok. thanks", "3.14", "a.b", "句号。", "．com", "", "：//"):
        assert native_link_hint(plain) is False and _count(_URL, plain) == 0
    assert native_link_hint("a.bcom") is False                 # `.b`: no ending starts with b
    assert native_link_hint(None) is False and native_link_hint(3) is False

"""Short word lists in C (runtime/_words.c) against their definition: WordSet(text) is
`any(word in text for word in words)`, whatever the text's width and however many places a word
almost matches."""
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.runtime import _words, helpers, matchers

# Characters of each storage width CPython picks (Latin-1, BMP, astral), and few enough of them
# that words often start, and often almost match, at many places of a text.
_CHARS = st.sampled_from(["a", "b", "é", "加", "微", "信", "😀", "\x00"])
_TEXTS = st.text(_CHARS, max_size=60)
_WORDS = st.lists(st.text(_CHARS, max_size=5), max_size=10)


def _oracle(words, text) -> bool:
    return any(word in text for word in words)


@settings(max_examples=1500, deadline=None)
@given(_WORDS, _TEXTS)
def test_c_word_set_answers_as_the_definition_does(words, text):
    expected = _oracle(words, text)
    assert _words.WordSet(words)(text) is expected
    assert matchers.PythonWordSet(words)(text) is expected


@pytest.mark.parametrize("found_at_end", [True, False])
def test_a_text_that_exhausts_the_comparison_budget_still_gets_the_right_answer(found_at_end):
    # Every place of the text starts both words and matches all but their last character: the
    # scan compares ~50 characters a place, far past its budget, and hands over to one search a
    # word. The answer must not change at the hand-over.
    words = ["a" * 50 + "b", "a" * 49 + "c"]
    text = "a" * 5000 + ("a" * 49 + "c" if found_at_end else "")
    assert _words.WordSet(words)(text) is found_at_end
    assert _words.WordSet(words)(text + "😀") is found_at_end       # the same in the widest storage


@settings(max_examples=1500, deadline=None)
@given(_WORDS, _TEXTS)
def test_a_long_lists_word_set_answers_as_the_definition_does_falling_back_or_not(words, text):
    # With a fallback (a long list's Aho–Corasick matcher) the budget is small, so texts of these
    # few characters often spend it; the answer is the definition's either way, and the matcher
    # is asked exactly when the scan gave up.
    expected = _oracle(words, text)
    asked = []

    def matcher(t):
        asked.append(t)
        return matchers.WordMatcher(words).any(t)
    with_fallback = _words.WordSet(words, matcher)
    assert with_fallback(text) is expected
    assert asked in ([], [text])
    assert matchers.PythonWordSet(words, matcher)(text) is expected


def _counting(answer):
    calls = []

    def fallback(text):
        calls.append(text)
        return answer
    return fallback, calls


def test_a_long_lists_word_set_asks_its_matcher_where_the_scan_would_cost_more():
    # "a…ab": every place of the text starts the word and almost matches it, which spends a budget
    # of two comparisons a character; a text without the first character costs a bit test a
    # character and never asks. (The fallback here answers True whatever it is asked, to show
    # whose answer came back; the engine's is the same words' matcher.)
    words = ["a" * 20 + "b"] + [f"词{i}x" for i in range(100)]
    fallback, calls = _counting(True)
    ws = _words.WordSet(words, fallback)
    assert ws("hello world, 你好") is False and calls == []
    assert ws("我们的词9x") is True and calls == []                  # found by the scan itself
    hostile = "a" * 200
    assert ws(hostile) is True and calls == [hostile]                 # the matcher's word
    assert _words.WordSet(words)(hostile) is False                    # without one: a search a word


def test_a_long_lists_word_set_goes_to_its_matcher_once_a_quarter_of_its_texts_have():
    # 64 texts seen, 17 of them spending the budget (more than a quarter): from then on every text
    # goes to the matcher first, the easy ones too. With 16 (a quarter) it does not.
    for hostile_first, straight_away in ((17, True), (16, False)):
        fallback, calls = _counting(False)
        ws = _words.WordSet(["a" * 20 + "b"] + [f"词{i}x" for i in range(100)], fallback)
        for i in range(64):
            ws("a" * 200 if i < hostile_first else "hello")
        assert len(calls) == hostile_first
        ws("hello")
        assert len(calls) == hostile_first + straight_away


def test_hand_written_cases():
    ads = _words.WordSet(["加微信", "vx:", "promo.example/"])
    assert ads("欢迎加微信聊") is True
    assert ads("加微 信") is False                                  # the engine normalises before asking
    assert ads("see promo.example/x") is True
    assert ads("promo.example") is False                            # a word longer than what is left
    assert ads("") is False
    assert _words.WordSet([])("anything") is False
    assert _words.WordSet(["", "zzz"])("anything") is True          # the empty word is in every text


def test_round_trips_and_errors():
    for cls in (_words.WordSet, matchers.PythonWordSet):
        ws = cls(["加微信", "idiot"])
        copy = pickle.loads(pickle.dumps(ws))                       # the compiled-program cache pickles its pool
        assert type(copy) is cls and copy.words == ("加微信", "idiot")
        assert copy("you idiot") is True and copy("hello") is False
        with pytest.raises(TypeError):
            ws(5)
    with pytest.raises(TypeError):
        _words.WordSet(["ok", 3])
    with pytest.raises(TypeError):
        _words.WordSet(["ok"], "not callable")
    # a long list's word set keeps its matcher through the cache's pickle
    words = [f"w{i}" for i in range(100)]
    ws = pickle.loads(pickle.dumps(_words.WordSet(words, matchers.WordMatcher(words).any)))
    assert ws("say w42 now") is True and ws("w") is False and ws.__reduce__()[1][1].__self__.words == tuple(words)


_PREFIXES = st.lists(st.text(_CHARS, max_size=4), max_size=5).map(tuple)


@settings(max_examples=1500, deadline=None)
@given(_PREFIXES, st.one_of(_TEXTS, st.none()))
def test_c_starts_with_any_answers_as_str_startswith(prefixes, text):
    expected = text is not None and text.startswith(prefixes)      # the oracle: Python's own
    assert _words.starts_with_any(text, prefixes) is expected
    assert helpers.python_starts_with_any(text, prefixes) is expected


def test_starts_with_any_by_hand():
    summary = ("#总结", "#summary")
    assert _words.starts_with_any("#总结 今天的讨论", summary) is True
    assert _words.starts_with_any("#summary of today", summary) is True
    assert _words.starts_with_any("#summ", summary) is False                 # shorter than every prefix
    assert _words.starts_with_any("今天 #总结", summary) is False             # inside, not at the start
    assert _words.starts_with_any("", summary) is False
    assert _words.starts_with_any("", ("",)) is True                          # every text starts with ""
    assert _words.starts_with_any(None, summary) is False                     # a missing text
    assert _words.starts_with_any(7, summary) is False                        # not text
    assert _words.starts_with_any("😀x", ("😀",)) is True                     # widest storage
    with pytest.raises(TypeError):
        _words.starts_with_any("abc", ("b", 3))          # as "abc".startswith(("b", 3))
    with pytest.raises(TypeError):
        _words.starts_with_any("abc", ["a"])


# Characters whose case folding is more than themselves: ß → ss, ŉ → ʼn, ﬃ → ffi, İ → i̇, ΐ → three
# characters, final sigma, a long s; and their ASCII neighbours, so folded prefixes can meet them.
_FOLDING = st.text(st.sampled_from("aAbBsSiIfFnN ßŉﬃİΐςſΣσ#总结é\u0307\u0301"), max_size=8)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_FOLDING, max_size=4), st.one_of(_FOLDING, _TEXTS, st.none(), st.integers()))
def test_c_folded_starts_with_any_answers_as_casefold_then_startswith(words, text):
    prefixes = tuple(dict.fromkeys(w.casefold() for w in words))          # as the compiler folds them
    expected = isinstance(text, str) and text.casefold().startswith(prefixes)   # the oracle: Python's own
    assert _words.folded_starts_with_any(text, prefixes) is expected
    assert helpers.python_folded_starts_with_any(text, prefixes) is expected


def test_folded_starts_with_any_by_hand():
    summary = ("#总结", "#summary")
    assert _words.folded_starts_with_any("#SUMMARY of today", summary) is True
    assert _words.folded_starts_with_any("#Summ", summary) is False                 # shorter than every prefix
    assert _words.folded_starts_with_any("Straße", ("strass",)) is True             # ß folds to two characters
    assert _words.folded_starts_with_any("STRASSE", ("straß",)) is False            # prefixes come folded: "strass"
    assert _words.folded_starts_with_any("ﬃx", ("ffix",)) is True                   # one character, three folded
    assert _words.folded_starts_with_any("#ſummary", summary) is True               # the long s folds to s
    # The first character is folded before the prefixes' first characters turn a text away.
    assert _words.folded_starts_with_any("ſum", ("sum",)) is True
    assert _words.folded_starts_with_any("\u212aelvin", ("kel",)) is True           # the Kelvin sign folds to k
    assert _words.folded_starts_with_any("İx", ("i\u0307x",)) is True
    assert _words.folded_starts_with_any("总结一下", summary) is False and _words.folded_starts_with_any("", summary) is False
    assert _words.folded_starts_with_any("", ("",)) is True and _words.folded_starts_with_any("x", ()) is False
    assert _words.folded_starts_with_any(None, summary) is False                    # a missing text
    assert _words.folded_starts_with_any(7, summary) is False

    class Text(str):
        pass
    # a str subclass is not text to the generated code (fold_text gives None for it), here neither
    assert _words.folded_starts_with_any(Text("#summary"), summary) is False
    assert helpers.python_folded_starts_with_any(Text("#summary"), summary) is False
    many = tuple(f"w{i}" for i in range(70)) + ("#summary",)                       # past 64 prefixes
    assert _words.folded_starts_with_any("#SUMMARY", many) is True and _words.folded_starts_with_any("#SUM", many) is False
    assert _words.folded_starts_with_any("W69", many) is True and _words.folded_starts_with_any("W3", many) is True
    long = "x" * 70
    assert _words.folded_starts_with_any(long.upper() + "!", (long,)) is True       # past 64: the whole text folded
    # a prefix that is not a str: in order, as "ABC".casefold().startswith(…) says — True at a match
    # before it, the TypeError when no prefix before it matches
    for prefixes in (("a", 3), ("", 3), ("b", 3), (3, "a")):
        try:
            expected = "ABC".casefold().startswith(prefixes)
        except TypeError:
            expected = TypeError
        for fn in (_words.folded_starts_with_any, helpers.python_folded_starts_with_any):
            try:
                got = fn("ABC", prefixes)
            except TypeError:
                got = TypeError
            assert got == expected, (prefixes, fn)
    assert _words.folded_starts_with_any("ABC", ("a", 3)) is True
    with pytest.raises(TypeError):
        _words.folded_starts_with_any("ABC", ("b", 3))

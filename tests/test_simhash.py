"""SimHash is computed bit-sliced for speed; it must equal the textbook per-bit vote, written here plainly."""
from hypothesis import given, settings
from hypothesis import strategies as st

from policyengine.runtime.text import SIMHASH_CHARS, _gram_hash, normalize, simhash


def textbook(text: str) -> int:
    """Each shingle's 64-bit hash votes +1 for the bits it has and −1 for the others; a bit is set
    where the vote is positive."""
    norm = (normalize(text[:SIMHASH_CHARS * 2]) or "")[:SIMHASH_CHARS]
    grams = [norm[i:i + 2] for i in range(len(norm) - 1)] if len(norm) >= 2 else ([norm] if norm else [])
    votes = [0] * 64
    for gram in grams:
        h = _gram_hash(gram)
        for bit in range(64):
            votes[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if votes[bit] > 0)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab 加微信免费优惠Ｘ👍\u200b"), max_size=400))
def test_simhash_equals_the_per_bit_vote(text):
    assert simhash(text) == textbook(text)


def test_simhash_edges_and_long_texts():
    for text in ("", "a", "ab", "aaaa", "ab" * 3000, "大家好，今天的分享会几点开始？" * 200):
        assert simhash(text) == textbook(text), text[:20]
    # the cache of the last text answers for the same object, and is not fooled by an equal one
    a = "x" * 50
    b = "".join(["x"] * 50)
    assert simhash(a) == simhash(b) == textbook(a)

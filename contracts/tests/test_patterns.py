"""Pattern specificity and ambiguity, checked against fnmatch itself on sample names."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.patterns import literal_prefix, matches, patterns_intersect, specificity


def test_specificity_orders_exact_then_longer_prefix():
    ordered = sorted(["*", "deepseek-*", "deepseek-chat", "deep*", "deepseek-c*"], key=specificity, reverse=True)
    assert ordered == ["deepseek-chat", "deepseek-c*", "deepseek-*", "deep*", "*"]
    assert literal_prefix("gpt-4o-*-mini") == "gpt-4o-"


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("deepseek-*", "deepseek-?hat", True),
        ("gpt-4o-*", "gpt-4.1*", False),
        ("qwen-*", "*-max", True),
        ("qwen-[ab]*", "qwen-c*", False),
        ("qwen-[!a]*", "qwen-a*", False),
        ("qwen-[!a]*", "qwen-b*", True),
        ("a*b", "a*c", False),
        ("*", "anything", True),
        ("x?", "x", False),
        ("claude-3-[5-7]-*", "claude-3-6-sonnet", True),
    ],
)
def test_patterns_intersect(a, b, meet):
    assert patterns_intersect(a, b) is meet
    assert patterns_intersect(b, a) is meet


ALPHABET = "ab-"
pattern_chars = st.sampled_from(["a", "b", "-", "*", "?", "[ab]", "[!a]"])


NAMES = ["".join(p) for n in range(7) for p in itertools.product(ALPHABET + "c", repeat=n)]


@settings(max_examples=150, deadline=None)
@given(st.lists(pattern_chars, max_size=3).map("".join), st.lists(pattern_chars, max_size=3).map("".join))
def test_intersection_agrees_with_fnmatch_on_every_short_name(a, b):
    """Brute force: the patterns meet iff some name of up to 6 characters matches both (each has
    at most 3 fixed characters, so a shortest common name has at most 6)."""
    names = NAMES
    brute = any(matches(a, name) and matches(b, name) for name in names)
    assert patterns_intersect(a, b) is brute

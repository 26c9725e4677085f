"""Model patterns of price rules: shell-style globs (`deepseek-*`, `gpt-4o-2024-??-??`).

The most specific pattern wins: an exact name beats any pattern; among patterns the longer
literal prefix (the text before the first wildcard) wins. Two rules of equal specificity that
could both match some model name, for one token class and date, are ambiguous and refused.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import cache, lru_cache

WILDCARDS = frozenset("*?[")


def is_exact(pattern: str) -> bool:
    return not any(ch in WILDCARDS for ch in pattern)


def literal_prefix(pattern: str) -> str:
    for i, ch in enumerate(pattern):
        if ch in WILDCARDS:
            return pattern[:i]
    return pattern


def specificity(pattern: str) -> tuple[int, int]:
    """Bigger is more specific: (1, length) for an exact name, (0, prefix length) for a pattern."""
    return (1, len(pattern)) if is_exact(pattern) else (0, len(literal_prefix(pattern)))


def matches(pattern: str, model: str) -> bool:
    return fnmatchcase(model, pattern)


# A pattern as tokens: STAR, or a character set (chars, negated); ANY is the '?' set.
STAR = ("*",)


def _tokens(pattern: str) -> tuple:
    tokens = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if not tokens or tokens[-1] is not STAR:
                tokens.append(STAR)
            i += 1
        elif ch == "?":
            tokens.append(("set", frozenset(), True))  # negated empty set: any character
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 2 if i + 1 < len(pattern) and pattern[i + 1] in "!]" else i + 1)
            if end == -1:  # fnmatch treats an unclosed '[' as a literal
                tokens.append(("set", frozenset("["), False))
                i += 1
                continue
            body = pattern[i + 1 : end]
            negated = body.startswith("!")
            if negated:
                body = body[1:]
            chars: set[str] = set()
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    chars.update(chr(c) for c in range(ord(body[j]), ord(body[j + 2]) + 1))
                    j += 3
                else:
                    chars.add(body[j])
                    j += 1
            tokens.append(("set", frozenset(chars), negated))
            i = end + 1
        else:
            tokens.append(("set", frozenset(ch), False))
            i += 1
    return tuple(tokens)


def _sets_meet(a: tuple, b: tuple) -> bool:
    _, chars_a, neg_a = a
    _, chars_b, neg_b = b
    if neg_a and neg_b:
        return True  # the alphabet is unbounded
    if neg_a:
        return bool(chars_b - chars_a)
    if neg_b:
        return bool(chars_a - chars_b)
    return bool(chars_a & chars_b)


@lru_cache(maxsize=4096)
def patterns_intersect(a: str, b: str) -> bool:
    """Whether some model name matches both patterns."""
    ta, tb = _tokens(a), _tokens(b)

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(ta) and j == len(tb):
            return True
        if i < len(ta) and ta[i] is STAR:
            # the star matches nothing more, or also the character b's next token matches
            return meet(i + 1, j) or (j < len(tb) and meet(i, j + 1))
        if j < len(tb) and tb[j] is STAR:
            return meet(i, j + 1) or (i < len(ta) and meet(i + 1, j))
        if i < len(ta) and j < len(tb):
            return _sets_meet(ta[i], tb[j]) and meet(i + 1, j + 1)
        return False

    return meet(0, 0)

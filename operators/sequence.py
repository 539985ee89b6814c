"""Edit distance, longest common subsequence and their similarities, for strings and token ids.

Every function takes two sequences of the same kind: two ``str`` (compared
character by character, any Unicode), or two sequences of hashable tokens,
such as lists of token strings or lists / numpy arrays of integer token ids
(numpy arrays are converted to lists of Python ints first). They call
rapidfuzz's bit-parallel kernels: Levenshtein distance after Myers (J. ACM
1999) and Hyyrö (2003), LCS after Hyyrö (2004) / Allison & Dix (1986), in
O(⌈len / 64⌉ · len) word operations.

Normalisation (both similarities are in [0, 1], 1 for equal sequences, and 1
for two empty ones):

* ``edit_similarity = 1 - edit_distance / max(len(a), len(b))``: 0 when every
  position must be edited;
* ``lcs_similarity = lcs_length / max(len(a), len(b))``: the fraction of the
  longer sequence that the other one also contains, in order.

Examples
--------
>>> edit_distance("kitten", "sitting")
3
>>> lcs_length([101, 7, 9, 42], np.array([7, 42, 9]))
2
>>> edit_similarity(["the", "cat", "sat"], ["the", "cat", "sat", "down"])
0.75
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from rapidfuzz.distance import LCSseq, Levenshtein

Tokens = str | Sequence[Hashable] | np.ndarray
"""A string, or a sequence of hashable tokens (token strings, integer token ids)."""


def _tokens(x: Tokens) -> str | Sequence[Hashable]:
    # rapidfuzz hashes numpy scalars differently from Python ints: compare plain ints.
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise ValueError(f"token arrays must be 1-d, got shape {x.shape}")
        return x.tolist()
    return x


def edit_distance(a: Tokens, b: Tokens) -> int:
    """Levenshtein distance: insertions, deletions and substitutions needed, each costing 1.

    Levenshtein (1966), computed with rapidfuzz's bit-parallel algorithm
    (Myers 1999; Hyyrö 2003).

    Examples
    --------
    >>> edit_distance("flaw", "lawn")
    2
    >>> edit_distance([1, 2, 3], np.array([1, 3]))
    1
    """
    return int(Levenshtein.distance(_tokens(a), _tokens(b)))


def lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence (not necessarily contiguous).

    Computed with rapidfuzz's bit-parallel LCS (Allison & Dix 1986; Hyyrö 2004).

    Examples
    --------
    >>> lcs_length("ABCBDAB", "BDCABA")   # CLRS chapter 15: "BCBA"
    4
    >>> lcs_length(["a", "b"], [])
    0
    """
    return int(LCSseq.similarity(_tokens(a), _tokens(b)))


def edit_similarity(a: Tokens, b: Tokens) -> float:
    """``1 - edit_distance(a, b) / max(len(a), len(b))``, in [0, 1]; 1.0 for two empty sequences.

    The Levenshtein distance (Levenshtein 1966) never exceeds the longer
    length, hence the range.

    Examples
    --------
    >>> edit_similarity("abcd", "abce")
    0.75
    >>> edit_similarity("", "")
    1.0
    """
    x, y = _tokens(a), _tokens(b)
    longest = max(len(x), len(y))
    if longest == 0:
        return 1.0
    return 1.0 - int(Levenshtein.distance(x, y)) / longest


def lcs_similarity(a: Tokens, b: Tokens) -> float:
    """``lcs_length(a, b) / max(len(a), len(b))``, in [0, 1]; 1.0 for two empty sequences.

    The share of the longer sequence found, in order, in the other (LCS as in
    Hyyrö 2004).

    Examples
    --------
    >>> lcs_similarity("ABCBDAB", "BDCABA")
    0.5714285714285714
    >>> lcs_similarity([5, 6], [5, 6])
    1.0
    """
    x, y = _tokens(a), _tokens(b)
    longest = max(len(x), len(y))
    if longest == 0:
        return 1.0
    return int(LCSseq.similarity(x, y)) / longest

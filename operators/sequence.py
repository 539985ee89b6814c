"""Edit distance and LCS between token sequences, and a reference found in a stream within k edits.

The batch functions take any two sequences of hashable items: a ``str`` is a
sequence of characters, a list of token strings a sequence of tokens. They are
rapidfuzz's bit-parallel implementations (Myers 1999; Hyyrö 2003, 2004).

:class:`EditDistanceSearch` answers a streaming question the batch functions
cannot answer cheaply: does the stream so far end with something within ``k``
edits of a reference sequence (a leaked system prompt, a cached answer, a
known bad completion), whatever came before? It is Myers' bit-vector
approximate string matching (J. ACM 1999) on tokens, in the block form of
Hyyrö (2003): one pass of ⌈len(reference) / 64⌉ word operations per token.

Examples
--------
>>> edit_distance("kitten", "sitting")
3
>>> edit_distance(["the", "cat", "sat"], ["the", "cat", "sat", "down"])
1
>>> search = EditDistanceSearch(["ignore", "all", "previous", "instructions"], max_edits=1)
>>> found = search.update_many("please ignore all the previous instructions now".split())
>>> found
[Occurrence(end=5, distance=1)]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Indel, LCSseq, Levenshtein

from operators._edit_kernels import ALL_ONES, myers_search_many, myers_search_step


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable],
                  max_distance: int | None = None) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1).

    With ``max_distance``, any distance above it is returned as ``max_distance + 1``,
    which lets the bit-parallel search stop early.

    Examples
    --------
    >>> edit_distance("flaw", "lawn")
    2
    >>> edit_distance("abcdef", "uvwxyz", max_distance=2)
    3
    """
    return int(Levenshtein.distance(a, b, score_cutoff=max_distance))


def edit_similarity(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """``1 - edit_distance / max(len(a), len(b))``: 1 for equal sequences, 0 for nothing shared.

    Examples
    --------
    >>> edit_similarity("abcd", "abce")
    0.75
    >>> edit_similarity("", "")
    1.0
    """
    return float(Levenshtein.normalized_similarity(a, b))


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence (Hyyrö 2004's bit-parallel LCS).

    Examples
    --------
    >>> lcs_length("ABCBDAB", "BDCABA")
    4
    """
    return int(LCSseq.similarity(a, b))


def indel_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Insertions and deletions needed (no substitutions): ``len(a) + len(b) - 2 * LCS``.

    Examples
    --------
    >>> indel_distance("kitten", "sitting")
    5
    """
    return int(Indel.distance(a, b))


@dataclass(frozen=True, slots=True)
class Occurrence:
    """The reference occurs, within ``distance`` edits, in a substring ending at token ``end``."""

    end: int
    distance: int


class EditDistanceSearch:
    """Online search for a reference token sequence, within ``max_edits`` edits, in a stream.

    After each token, ``distance`` is the smallest Levenshtein distance between
    the reference and any substring of the stream that ends with that token
    (Sellers 1980), kept up to date with Myers' bit-vector algorithm (1999) in
    Hyyrö's block form (2003): O(⌈m / 64⌉) per token for a reference of m tokens,
    however long the stream, and state of a few words per 64 tokens.

    An occurrence is reported at the first token where ``distance`` drops to
    ``max_edits`` or below, the earliest point at which it is certain; the next
    one is reported only after the distance has risen above ``max_edits`` again.

    Parameters
    ----------
    reference
        The sequence to look for: tokens (any hashable) or the characters of a str.
    max_edits
        Largest distance that counts as an occurrence, from 0 up to
        ``len(reference) - 1`` (at ``len(reference)`` the empty substring would match).

    Examples
    --------
    >>> search = EditDistanceSearch("needle", max_edits=1)
    >>> [search.update(c) for c in "a neeedle"]  # doctest: +NORMALIZE_WHITESPACE
    [None, None, None, None, None, None, None, None, Occurrence(end=8, distance=1)]
    >>> search.distance
    1
    """

    def __init__(self, reference: Sequence[Hashable], max_edits: int) -> None:
        m = len(reference)
        if m == 0:
            raise ValueError("reference must not be empty")
        if not 0 <= max_edits < m:
            raise ValueError(f"max_edits must be in 0..{m - 1} (len(reference) - 1), "
                             f"got {max_edits}")
        self.reference = tuple(reference)
        self.max_edits = max_edits
        self._symbols: dict[Hashable, int] = {}
        for token in self.reference:
            self._symbols.setdefault(token, len(self._symbols))
        blocks = (m + 63) // 64
        # One row per distinct reference token, plus an all-zero row for any other token.
        self._peq = np.zeros((len(self._symbols) + 1, blocks), dtype=np.uint64)
        for position, token in enumerate(self.reference):
            self._peq[self._symbols[token], position // 64] |= np.uint64(1) << np.uint64(
                position % 64)
        self._other = len(self._symbols)
        self._last_bit = (m - 1) % 64
        self._pv = np.full(blocks, ALL_ONES, dtype=np.uint64)
        self._mv = np.zeros(blocks, dtype=np.uint64)
        self._score = m
        self._count = 0
        self._inside = False

    def update(self, token: Hashable) -> Occurrence | None:
        """Add one token; return the occurrence it completes, if any."""
        symbol = self._symbols.get(token, self._other)
        self._score += myers_search_step(self._peq, symbol, self._pv, self._mv, self._last_bit)
        self._count += 1
        return self._check(self._count - 1, self._score)

    def update_many(self, tokens: Iterable[Hashable]) -> list[Occurrence]:
        """Add many tokens in one kernel call; return the occurrences they complete, in order."""
        get = self._symbols.get
        other = self._other
        symbols = np.fromiter((get(t, other) for t in tokens), dtype=np.int64)
        scores = np.empty(symbols.shape[0], dtype=np.int64)
        self._score = int(myers_search_many(self._peq, symbols, self._pv, self._mv,
                                            self._last_bit, self._score, scores))
        first = self._count
        self._count += symbols.shape[0]
        found = []
        # Only tokens that cross the threshold can report: look at those alone.
        below = scores <= self.max_edits
        for k in np.flatnonzero(below != np.concatenate(([self._inside], below[:-1]))):
            occurrence = self._check(first + int(k), int(scores[k]))
            if occurrence is not None:
                found.append(occurrence)
        return found

    def _check(self, index: int, score: int) -> Occurrence | None:
        if score > self.max_edits:
            self._inside = False
            return None
        if self._inside:
            return None
        self._inside = True
        return Occurrence(end=index, distance=score)

    @property
    def distance(self) -> int:
        """Smallest edit distance of the reference to a substring ending at the last token."""
        return self._score

    @property
    def tokens_seen(self) -> int:
        """Tokens added so far."""
        return self._count

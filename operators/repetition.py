"""Repetition-loop detection on a token sequence: a span repeated back to back.

A sequence is in a loop of period ``p`` when its last ``L`` tokens satisfy
``tok[i] == tok[i - p]`` and ``L >= max(min_repeats * p, min_tokens)``. The
detector keeps, for each candidate period, the length of the current run of
such equalities, so the loop is reported at exactly the token where the rule
first holds: the earliest point at which it is certain.

Candidate periods come from the last few positions of the current token, and
a new candidate's run is back-filled from the ring buffer, so runs are exact.
Work per token is proportional to the number of live candidates, which is
small in ordinary text. Memory is a fixed ring of token hashes plus, per ring
slot, the position of the previous occurrence of the same token: a chain
through the ring instead of a list per token, so a stream's state is a few
flat arrays that the garbage collector never has to walk.

Tokens are compared by a stable 32-bit CRC of their UTF-8 text, so state that
is pickled by one process and restored by another still compares equal (the
built-in ``hash`` of ``str`` is salted per process).

Examples
--------
>>> d = RepetitionDetector(max_period=8, min_repeats=3, min_tokens=6)
>>> found = [d.update(t) for t in "the cat sat . the cat sat . the cat sat .".split()]
>>> [(i, f.period, f.start) for i, f in enumerate(found) if f]
[(11, 4, 0)]
"""

from __future__ import annotations

import zlib
from array import array
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loop:
    """A detected loop: tokens ``start..index`` (inclusive) repeat with ``period``."""

    period: int
    start: int
    index: int

    @property
    def length(self) -> int:
        """Tokens covered by the loop when it became certain."""
        return self.index - self.start + 1

    @property
    def repeats(self) -> float:
        """How many copies of the repeated span that is."""
        return self.length / self.period


def token_hash(token: str) -> int:
    """Stable 32-bit identity of a token.

    >>> token_hash("hi") == token_hash("h" + "i")
    True
    """
    return zlib.crc32(token.encode("utf-8", "surrogatepass"))


class RepetitionDetector:
    """Online detector of back-to-back repeated spans of tokens.

    Parameters
    ----------
    max_period
        Longest repeated span, in tokens, to look for.
    min_repeats
        Copies of the span needed (at least 2).
    min_tokens
        The loop must also cover at least this many tokens, so that a period-1
        run such as ``"ha ha ha"`` needs more evidence than ``min_repeats``.
    occurrences
        How many past positions of each token to keep as period candidates.
    """

    __slots__ = (
        "_active",
        "_count",
        "_last",
        "_needed",
        "_prev",
        "_ring",
        "_size",
        "in_loop",
        "max_period",
        "min_repeats",
        "min_tokens",
        "occurrences",
    )

    def __init__(
        self,
        max_period: int = 64,
        min_repeats: int = 3,
        min_tokens: int = 24,
        occurrences: int = 8,
    ) -> None:
        if max_period < 1:
            raise ValueError(f"max_period must be >= 1, got {max_period}")
        if min_repeats < 2:
            raise ValueError(f"min_repeats must be >= 2, got {min_repeats}")
        if min_tokens < 2:
            raise ValueError(f"min_tokens must be >= 2, got {min_tokens}")
        if occurrences < 1:
            raise ValueError(f"occurrences must be >= 1, got {occurrences}")
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.min_tokens = min_tokens
        self.occurrences = occurrences
        # The ring holds enough history to back-fill the longest run that matters.
        self._size = max(min_repeats * max_period, min_tokens) + 1
        self._ring = array("I", bytes(4 * self._size))
        self._prev = array("q", [-1]) * self._size
        self._count = 0
        self._last: dict[int, int] = {}
        self._active: dict[int, int] = {}
        # Tokens a loop of period p must cover, precomputed: it is looked up per candidate.
        self._needed = [max(min_repeats * p, min_tokens) for p in range(max_period + 1)]
        self.in_loop: Loop | None = None
        """The loop the stream is in now, if any."""

    def __getstate__(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def update(self, token: str) -> Loop | None:
        """Add one token; return the loop if this token makes it certain, else ``None``.

        A loop is reported once; after it breaks, a new one can be reported.
        """
        return self.update_hash(token_hash(token))

    def update_hash(self, h: int) -> Loop | None:
        """Like :meth:`update`, for a token already reduced to :func:`token_hash`."""
        i = self._count
        size = self._size
        ring = self._ring
        ring[i % size] = h
        self._count = i + 1
        active = self._active
        # Extend or drop the runs of the live candidate periods.
        for p in list(active):
            if ring[(i - p) % size] == h:
                active[p] += 1
            else:
                del active[p]
        # New candidates: the last few earlier positions of this same token.
        prev = self._prev
        j = self._last.get(h, -1)
        prev[i % size] = j
        self._last[h] = i
        max_period = self.max_period
        for _ in range(self.occurrences):
            if j < 0 or i - j > max_period:
                break
            p = i - j
            if p not in active:
                active[p] = self._backfill(i, p)
            j = prev[j % size]
        self._forget(i - max_period)
        loop = self.in_loop
        if loop is not None and loop.period not in active:
            self.in_loop = loop = None
        if loop is None and active:
            needed = self._needed
            for p in sorted(active):
                run = active[p]
                if run + p >= needed[p]:
                    loop = Loop(period=p, start=i - run - p + 1, index=i)
                    self.in_loop = loop
                    return loop
        return None

    def _backfill(self, i: int, p: int) -> int:
        """Length of the run of ``tok[k] == tok[k - p]`` ending at ``i`` (capped)."""
        ring, size = self._ring, self._size
        cap = min(self._needed[p] - p, i - p + 1)
        run = 1
        k = i - 1
        while run < cap and k - p >= 0 and ring[k % size] == ring[(k - p) % size]:
            run += 1
            k -= 1
        return run

    def _forget(self, position: int) -> None:
        """Drop a token from the latest-position index once it falls out of candidate range."""
        if position < 0:
            return
        h = self._ring[position % self._size]
        if self._last.get(h) == position:
            del self._last[h]

    @property
    def tokens_seen(self) -> int:
        """Tokens added so far."""
        return self._count

"""Repetition-loop detection on a token sequence: a span repeated back to back.

A sequence is in a loop of period ``p`` when its last ``L`` tokens satisfy
``tok[i] == tok[i - p]`` and ``L >= max(min_repeats * p, min_tokens)``. The
detector keeps, for every period up to ``max_period``, the length of the
current run of such equalities, so the loop is reported at exactly the token
where the rule first holds: the earliest point at which it is certain.

Each token costs one pass over ``max_period`` counters in a numba kernel
(:func:`midstream.operators._kernels.repetition_step`), about half a microsecond
including the call; the state is three small NumPy arrays, which pickle
cheaply and give the garbage collector nothing to walk.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from midstream.operators._kernels import repetition_step
from midstream.operators.compact_state import PackedState, pack_arrays, unpack_arrays


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
    """

    def __init__(self, max_period: int = 64, min_repeats: int = 3, min_tokens: int = 24) -> None:
        if max_period < 1:
            raise ValueError(f"max_period must be >= 1, got {max_period}")
        if min_repeats < 2:
            raise ValueError(f"min_repeats must be >= 2, got {min_repeats}")
        if min_tokens < 2:
            raise ValueError(f"min_tokens must be >= 2, got {min_tokens}")
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.min_tokens = min_tokens
        self._ring = np.zeros(max_period + 1, dtype=np.uint32)
        self._runs = np.zeros(max_period + 1, dtype=np.int64)
        # Tokens a loop of period p must cover; index 0 is unused.
        self._needed = _needed_tokens(max_period, min_repeats, min_tokens)
        self._count = 0
        self.in_loop: Loop | None = None
        """The loop the stream is in now, if any."""

    def __getstate__(self) -> PackedState:
        """Pickle compactly (:mod:`midstream.operators.compact_state`)."""
        return pack_arrays({k: v for k, v in self.__dict__.items() if k != "_needed"},
                           ('_ring', '_runs'))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        self.__dict__.update(unpack_arrays(state))
        self._needed = _needed_tokens(self.max_period, self.min_repeats, self.min_tokens)

    def update(self, token: str) -> Loop | None:
        """Add one token; return the loop if this token makes it certain, else ``None``.

        A loop is reported once; after it breaks, a new one can be reported.
        """
        return self.update_hash(token_hash(token))

    def update_hash(self, h: int) -> Loop | None:
        """Like :meth:`update`, for a token already reduced to :func:`token_hash`."""
        i = self._count
        self._count = i + 1
        period = repetition_step(self._ring, self._runs, self._needed, i, h)
        loop = self.in_loop
        if loop is not None and self._runs[loop.period] == 0:
            self.in_loop = loop = None
        if loop is None and period:
            run = int(self._runs[period])
            self.in_loop = loop = Loop(period=period, start=i - run - period + 1, index=i)
            return loop
        return None

    @property
    def tokens_seen(self) -> int:
        """Tokens added so far."""
        return self._count


def _needed_tokens(max_period: int, min_repeats: int, min_tokens: int) -> np.ndarray:
    """Tokens a loop of each period must cover (index 0 unused): derived, so never pickled."""
    return np.array([max(min_repeats * p, min_tokens) for p in range(max_period + 1)],
                    dtype=np.int64)

"""Timing health of one token stream: time to first token, inter-token gaps, stalls, throughput.

All times are event times in seconds, as stamped by the producer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StreamHealth:
    """Incremental timing statistics of a single stream.

    Parameters
    ----------
    stall_seconds
        A gap between consecutive tokens longer than this counts as a stall.

    Examples
    --------
    >>> h = StreamHealth(stall_seconds=1.0)
    >>> h.on_start(10.0)
    >>> h.on_token(10.4)     # first token: no gap yet
    >>> h.on_token(10.5)
    0.09999999999999964
    >>> round(h.time_to_first_token, 3), h.tokens
    (0.4, 2)
    >>> h.on_token(12.0) > h.stall_seconds   # a 1.5 s gap is a stall
    True
    >>> h.stalls
    1
    """

    stall_seconds: float
    started_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None
    tokens: int = 0
    stalls: int = 0
    longest_gap: float = 0.0

    def __post_init__(self) -> None:
        if not self.stall_seconds > 0:
            raise ValueError(f"stall_seconds must be > 0, got {self.stall_seconds!r}")

    def on_start(self, ts: float) -> None:
        """Record the request start (the ``start`` event)."""
        if self.started_at is None or ts < self.started_at:
            self.started_at = ts

    def on_token(self, ts: float) -> float | None:
        """Record one token; return the gap since the previous token, or ``None`` for the first."""
        self.tokens += 1
        if self.started_at is None:
            self.started_at = ts
        previous = self.last_token_at
        self.last_token_at = ts
        if previous is None:
            self.first_token_at = ts
            return None
        gap = ts - previous
        if gap > self.longest_gap:
            self.longest_gap = gap
        if gap > self.stall_seconds:
            self.stalls += 1
        return gap

    def on_end(self, ts: float) -> None:
        """Record the end of the stream (the ``end`` event)."""
        self.ended_at = ts
        if self.started_at is None:
            self.started_at = ts

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from the start to the first token, when both are known."""
        if self.first_token_at is None or self.started_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def duration(self) -> float | None:
        """Seconds from the start to the end (or to the last token before an end)."""
        last = self.ended_at if self.ended_at is not None else self.last_token_at
        if last is None or self.started_at is None:
            return None
        return last - self.started_at

    @property
    def tokens_per_second(self) -> float | None:
        """Decode rate: tokens after the first, over the time since the first token."""
        if self.first_token_at is None or self.last_token_at is None or self.tokens < 2:
            return None
        span = self.last_token_at - self.first_token_at
        return (self.tokens - 1) / span if span > 0 else None

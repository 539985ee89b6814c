"""What one LLM token stream's analysis remembers: plain data that pickles, for Bytewax recovery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from midstream.core import snapshots
from midstream.flows.series_analysis import SeriesState
from midstream.operators.repetition import RepetitionDetector
from midstream.operators.stream_health import StreamHealth
from midstream.operators.text_rules import TextScanState

MAX_DETECTIONS_KEPT = 64
"""Detections remembered per stream for the end-of-stream lead report (bounds state)."""


@dataclass(slots=True)
class Detection:
    """A detection remembered until the stream ends, to report its lead."""

    detector: str
    kind: str
    at_seq: int
    token_index: int


@dataclass(slots=True)
class StreamState:
    """Everything known about one open stream. Plain data: it pickles."""

    stream_id: str
    health: StreamHealth
    text: TextScanState
    loop: RepetitionDetector
    provider: str | None = None
    model: str | None = None
    last_seq: int = -1
    last_delta_seq: int = -1
    last_arrival: float = 0.0
    stall_flagged_after: int = -1
    detections: list[Detection] = field(default_factory=list)
    detections_dropped: int = 0
    ended: bool = False
    counted_open: bool = False
    series: dict[str, SeriesState] = field(default_factory=dict)
    """Temporal analysis per numeric series (``itl``, ``logprob``), created on first sample."""
    # Added after 0.1: snapshots of 0.1 restore with these at their defaults (__setstate__).
    last_ts: float = 0.0
    """Event time of the latest event."""
    live: bool = True
    """Whether the latest event arrived within ``live_lag_seconds`` of its ``ts``."""

    def __setstate__(self, state: tuple[Any, dict[str, Any] | None]) -> None:
        snapshots.set_fields(self, state)


def health_detail(state: StreamState) -> dict[str, Any]:
    """Return the timing health every health insight carries (summary, abandoned).

    Examples
    --------
    >>> from midstream.operators.repetition import RepetitionDetector
    >>> state = StreamState("s", StreamHealth(stall_seconds=2.0), TextScanState(),
    ...                     RepetitionDetector())
    >>> state.health.on_start(10.0); state.health.on_token(10.25)
    >>> health_detail(state)["time_to_first_token_s"]
    0.25
    """
    h = state.health
    return {
        "provider": state.provider,
        "model": state.model,
        "tokens": h.tokens,
        "time_to_first_token_s": _rounded(h.time_to_first_token),
        "duration_s": _rounded(h.duration),
        "tokens_per_second": _rounded(h.tokens_per_second),
        "stalls": h.stalls,
        "longest_gap_s": round(h.longest_gap, 4),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

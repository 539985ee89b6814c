"""Stalls of one stream: a gap between tokens over ``stall_seconds``, reported once per gap."""

from __future__ import annotations

from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.state import StreamState


class Stalls:
    """Finds stalls in event time (a gap between two tokens) and live (a silence in progress).

    A stall is reported once: a live stall found by the timer is not reported
    again when the token that ends it arrives.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> state = StreamAnalyzer.with_defaults().new_state("s")
    >>> state.health.tokens = 3
    >>> stalls = Stalls(AnalysisConfig(stall_seconds=1.0),
    ...                 Records(LlmStreamMetrics(CollectorRegistry())))
    >>> out = []
    >>> late = events.TokenEvent(v=1, stream_id="s", seq=4, ts=9.0, kind="delta", text="x")
    >>> stalls.on_gap(state, late, previous_delta_seq=3, gap=2.5, out=out)
    >>> [(r.kind, r.at_seq, r.detail["live"]) for _, r in out]
    [('stall', 3, False)]
    """

    def __init__(self, config: AnalysisConfig, records: Records) -> None:
        self.config = config
        self.records = records

    def on_gap(self, state: StreamState, event: events.TokenEvent, previous_delta_seq: int,
               gap: float, out: list[Output]) -> None:
        """Check the event-time gap that ``event`` closes."""
        if gap > self.config.stall_seconds:
            self.records.metrics.stall_seconds.observe(gap)
            if state.stall_flagged_after != previous_delta_seq:
                self.flag(state, event.ts, previous_delta_seq, gap, live=False, out=out)

    def pending(self, state: StreamState) -> bool:
        """Whether a live stall could still be reported for the current silence."""
        return state.health.tokens > 0 and state.stall_flagged_after != state.last_delta_seq

    def flag(self, state: StreamState, ts: float, after_seq: int, gap: float, *, live: bool,
             out: list[Output]) -> None:
        """Report a stall after ``after_seq``."""
        state.stall_flagged_after = after_seq
        self.records.metrics.stalls.inc()
        detail = {"gap_seconds": round(gap, 3), "threshold_seconds": self.config.stall_seconds,
                  "token_index": state.health.tokens - 1, "live": live}
        self.records.insight(out, state, ts, "health", "stall", "warning", after_seq, detail)

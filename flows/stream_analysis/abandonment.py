"""Abandoned streams: no event for ``abandon_seconds`` and no end, live or in replayed history."""

from __future__ import annotations

from midstream.core.config import AnalysisConfig
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.state import StreamState, health_detail


class Abandonment:
    """Reports a stream abandoned, and keeps its state as ended for the grace period.

    An event that still trickles in is then counted as late instead of opening a
    fresh, truncated stream.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> state = StreamAnalyzer.with_defaults().new_state("s")
    >>> state.last_ts, state.last_seq = 100.0, 7
    >>> abandonment = Abandonment(AnalysisConfig(abandon_seconds=30.0),
    ...                           Records(LlmStreamMetrics(CollectorRegistry())))
    >>> out = []
    >>> abandonment.in_event_time(state, out)
    >>> [(r.kind, r.ts, r.at_seq, r.detail["live"]) for _, r in out], state.ended
    ([('abandoned', 130.0, 7, False)], True)
    """

    def __init__(self, config: AnalysisConfig, records: Records) -> None:
        self.config = config
        self.records = records

    def live(self, state: StreamState, now: float, out: list[Output]) -> None:
        """Report a live stream silent for ``abandon_seconds`` of processing time."""
        detail = health_detail(state)
        detail["silent_seconds"] = round(now - state.last_arrival, 3)
        self._report(state, now, detail, out)
        state.last_arrival = now

    def in_event_time(self, state: StreamState, out: list[Output]) -> None:
        """Report a replayed stream abandoned ``abandon_seconds`` after its latest event."""
        detail = health_detail(state)
        detail["silent_seconds"] = self.config.abandon_seconds
        detail["live"] = False
        self._report(state, state.last_ts + self.config.abandon_seconds, detail, out)

    def _report(self, state: StreamState, ts: float, detail: dict[str, object],
                out: list[Output]) -> None:
        metrics = self.records.metrics
        metrics.streams_abandoned.inc()
        metrics.streams_open.dec()
        self.records.insight(out, state, ts, "health", "abandoned", "warning", state.last_seq,
                             detail)
        state.ended = True

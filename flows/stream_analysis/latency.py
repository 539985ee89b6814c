"""Token latency of one stream, into the GenAI histograms: time to first token, time per chunk."""

from __future__ import annotations

from typing import Any

from midstream.core import events
from midstream.core.metrics import LlmStreamMetrics
from midstream.flows.stream_analysis.state import StreamState


class Latency:
    """Records each token's event time; observes time to first token and inter-token gaps.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> state = StreamAnalyzer.with_defaults().new_state("s")
    >>> latency = Latency(LlmStreamMetrics(CollectorRegistry()))
    >>> first = events.TokenEvent(v=1, stream_id="s", seq=0, ts=10.0, kind="delta", text="a")
    >>> latency.on_token(state, first) is None, round(latency.on_token(state, first), 3)
    (True, 0.0)
    """

    def __init__(self, metrics: LlmStreamMetrics) -> None:
        self.metrics = metrics
        self._chunk_children: dict[tuple[str | None, str | None], Any] = {}

    def on_token(self, state: StreamState, event: events.TokenEvent) -> float | None:
        """Count a token; return the gap since the previous one (``None`` for the first)."""
        health = state.health
        gap = health.on_token(event.ts)
        if gap is None:
            ttft = health.time_to_first_token
            if ttft is not None:
                labels = self.metrics.model_labels(state.provider, state.model)
                self.metrics.time_to_first_chunk.labels(*labels).observe(ttft)
        else:
            self._chunk_histogram(state).observe(gap)
        return gap

    def _chunk_histogram(self, state: StreamState) -> Any:
        """Return the per-chunk latency histogram child for this stream's model, cached (hot path)."""
        key = (state.provider, state.model)
        child = self._chunk_children.get(key)
        if child is None:
            labels = self.metrics.model_labels(*key)
            child = self._chunk_children[key] = self.metrics.time_per_output_chunk.labels(*labels)
        return child

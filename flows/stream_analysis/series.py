"""A stream's numeric series (inter-token latency, logprob) through the temporal analyses."""

from __future__ import annotations

from typing import Any

from midstream.core import events
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import Finding, SeriesAnalysis
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.state import StreamState


class SeriesFindings:
    """Feeds each series sample to :class:`~midstream.flows.series_analysis.SeriesAnalysis`.

    Each finding becomes an insight at the token that made it certain; a
    series' state is created on its first sample.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> state = StreamAnalyzer.with_defaults().new_state("s")
    >>> findings = SeriesFindings(SeriesAnalysis(regime_window=0, lyapunov_window=0),
    ...                           Records(LlmStreamMetrics(CollectorRegistry())))
    >>> findings.analysis.active   # no analysis configured: samples are not even kept
    False
    """

    def __init__(self, analysis: SeriesAnalysis, records: Records) -> None:
        self.analysis = analysis
        self.records = records

    def on_sample(self, state: StreamState, name: str, value: float,
                  event: events.TokenEvent, out: list[Output]) -> None:
        """Add one sample of series ``name``, taken at ``event``."""
        series = state.series.get(name)
        if series is None:
            if not self.analysis.active:
                return
            series = state.series[name] = self.analysis.new_state(name)
        for finding in self.analysis.on_sample(series, value, event.seq):
            self._finding(out, state, event.ts, finding, name)

    def on_end(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        """Report the findings the end of the stream makes certain."""
        for name, series in state.series.items():
            for finding in self.analysis.on_end(series, event.seq):
                self._finding(out, state, event.ts, finding, name)

    def summaries(self, state: StreamState) -> dict[str, Any]:
        """Per series: samples, latest regime and Lyapunov estimate, shape matches."""
        return {name: self.analysis.summary(series) for name, series in state.series.items()}

    def _finding(self, out: list[Output], state: StreamState, ts: float, finding: Finding,
                 series: str) -> None:
        detail = {**finding.detail, "token_index": state.health.tokens - 1}
        self.records.insight(out, state, ts, finding.detector, finding.kind, finding.severity,
                             finding.at_seq, detail, instance=series)

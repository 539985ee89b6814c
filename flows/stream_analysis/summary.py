"""The end of a stream: its GenAI metrics and the summary insight, with each detection's lead."""

from __future__ import annotations

from midstream.core import events
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.series import SeriesFindings
from midstream.flows.stream_analysis.state import StreamState, health_detail


class Summary:
    """Closes a stream at its ``end`` event.

    The summary lists every detection with ``lead_tokens``: how many tokens
    the stream still sent after it, the time a consumer had to act.

    Examples
    --------
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> analyzer = StreamAnalyzer.with_defaults()
    >>> state = analyzer.new_state("s")
    >>> end = events.TokenEvent(v=1, stream_id="s", seq=0, ts=1.0, kind="end")
    >>> [(r.kind, r.detail["tokens"]) for _, r in analyzer.on_event(state, end, 0.0)]
    [('summary', 0)]
    """

    def __init__(self, records: Records, series: SeriesFindings) -> None:
        self.records = records
        self.series = series

    def on_end(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        """Report the end of the stream ``event`` closes."""
        m = self.records.metrics
        health = state.health
        health.on_end(event.ts)
        state.ended = True
        self.series.on_end(state, event, out)
        m.streams_completed.inc()
        m.streams_open.dec()
        labels = m.model_labels(state.provider, state.model)
        if health.duration is not None:
            m.operation_duration.labels(*labels).observe(health.duration)
        rate = health.tokens_per_second
        if rate is not None:
            m.tokens_per_second.labels(*labels).observe(rate)
        usage = (event.meta or {}).get("usage")
        output_tokens = health.tokens
        if isinstance(usage, dict):
            completion = usage.get("completion_tokens", usage.get("output_tokens"))
            prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
            if isinstance(completion, int):
                output_tokens = completion
            if isinstance(prompt, int):
                m.token_usage.labels(*labels, "input").observe(prompt)
        m.token_usage.labels(*labels, "output").observe(output_tokens)
        detections = []
        for d in state.detections:
            lead = health.tokens - 1 - d.token_index
            m.detection_lead.labels(d.detector).observe(lead)
            detections.append({"detector": d.detector, "kind": d.kind, "at_seq": d.at_seq,
                               "token_index": d.token_index, "lead_tokens": lead})
        detail = health_detail(state)
        detail["detections"] = detections
        if state.series:
            detail["series"] = self.series.summaries(state)
        if state.detections_dropped:
            detail["detections_not_listed"] = state.detections_dropped
        finish_reason = (event.meta or {}).get("finish_reason")
        if isinstance(finish_reason, str):
            detail["finish_reason"] = finish_reason
        self.records.insight(out, state, event.ts, "health", "summary", "info", event.seq,
                             detail)

"""Turning one stream's findings into insight and control records, counted in the metrics."""

from __future__ import annotations

from typing import Any

from midstream.core import events
from midstream.core.contracts import ControlAction
from midstream.core.metrics import LlmStreamMetrics
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.state import MAX_DETECTIONS_KEPT, Detection, StreamState


class Records:
    """Appends records to a batch's outputs and counts them; remembers detections for the lead.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.operators.repetition import RepetitionDetector
    >>> from midstream.operators.stream_health import StreamHealth
    >>> from midstream.operators.text_rules import TextScanState
    >>> state = StreamState("s", StreamHealth(stall_seconds=2.0), TextScanState(),
    ...                     RepetitionDetector())
    >>> out = []
    >>> Records(LlmStreamMetrics(CollectorRegistry())).control(out, state, 1.0, "stop", "x", 4)
    >>> out[0][0], out[0][1].action
    ('control', 'stop')
    """

    def __init__(self, metrics: LlmStreamMetrics) -> None:
        self.metrics = metrics

    def insight(
        self, out: list[Output], state: StreamState, ts: float, detector: str, kind: str,
        severity: str, at_seq: int, detail: dict[str, Any], instance: int | str | None = None,
    ) -> None:
        """Append an insight about ``state``'s stream."""
        self.metrics.insights.labels(detector, kind).inc()
        out.append(("insights", events.insight(
            stream_id=state.stream_id, ts=ts, detector=detector, kind=kind,
            severity=severity, at_seq=at_seq, detail=detail, instance=instance,
        )))

    def control(
        self, out: list[Output], state: StreamState, ts: float, action: ControlAction,
        reason: str,
        at_seq: int, span: tuple[int, int] | None = None,
    ) -> None:
        """Append a control event (``stop``, ``redact``, ``flag``) for ``state``'s stream."""
        self.metrics.control_events.labels(action).inc()
        out.append(("control", events.control(
            stream_id=state.stream_id, ts=ts, action=action, reason=reason, at_seq=at_seq,
            span=span,
        )))

    @staticmethod
    def remember(state: StreamState, detector: str, kind: str, at_seq: int,
                 token_index: int) -> None:
        """Keep a detection for the summary's lead report (up to :data:`MAX_DETECTIONS_KEPT`)."""
        if len(state.detections) < MAX_DETECTIONS_KEPT:
            state.detections.append(Detection(detector, kind, at_seq, token_index))
        else:
            state.detections_dropped += 1

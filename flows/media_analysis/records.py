"""Turning one media stream's findings into insight records, and its conditions into gauges."""

from __future__ import annotations

from typing import Any

from midstream.core import events
from midstream.core.media_events import MediaRecord
from midstream.core.metrics import MediaMetrics
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import Finding


class MediaRecords:
    """Appends insights at the record that made them certain, and counts them.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> records = MediaRecords(MediaMetrics(CollectorRegistry()))
    >>> frame = MediaRecord(v=1, stream_id="cam", seq=3, ts=10.0, kind="video", pts=1.0,
    ...                     width=2, height=2)
    >>> out = []
    >>> records.emit(out, MediaState("cam"), frame, "freeze", "warning", {"pts": 1.0})
    >>> out[0][1].id, out[0][1].ts
    ('cam/media/freeze/3', 10.0)
    """

    def __init__(self, metrics: MediaMetrics) -> None:
        self.metrics = metrics

    def condition(self, name: str, on: bool) -> None:
        """Start or stop a condition (``frozen``, ``silent``, ``dead``...): the gauge follows."""
        gauge = self.metrics.in_condition.labels(name)
        gauge.inc() if on else gauge.dec()

    def emit(self, out: list[Output], state: MediaState, r: MediaRecord, kind: str,
             severity: str, detail: dict[str, Any], *, detector: str = "media",
             instance: int | str | None = None) -> None:
        """Append an insight about ``state``'s stream, at record ``r``."""
        self.metrics.insights.labels(detector, kind if detector != "hook" else "label").inc()
        out.append(("insights", events.insight(
            stream_id=state.stream_id, ts=r.ts, detector=detector, kind=kind,
            severity=severity, at_seq=r.seq, detail=detail, instance=instance)))

    def emit_finding(self, out: list[Output], state: MediaState, r: MediaRecord,
                     finding: Finding) -> None:
        """Append a series analysis' finding, with the record's ``pts``."""
        detail = dict(finding.detail)
        detail["pts"] = r.pts
        self.emit(out, state, r, finding.kind, finding.severity, detail,
                  detector=finding.detector, instance=detail.get("series"))

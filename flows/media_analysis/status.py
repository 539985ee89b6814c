"""The connector's status records (connected, dropped, reconnecting, ended, error), as insights."""

from __future__ import annotations

from typing import Any

from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.outputs import Output

SEVERITY = {"connected": "info", "reconnecting": "info", "ended": "info",
            "dropped": "warning", "error": "error"}
"""Each status' severity; any other status is a warning."""


def on_status(records: MediaRecords, state: MediaState, r: MediaRecord,
              out: list[Output]) -> None:
    """Report a status record; ``ended`` and ``connected`` also mark the stream's state.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> state, out = MediaState("cam"), []
    >>> end = MediaRecord(v=1, stream_id="cam", seq=1, ts=1.0, kind="status", status="ended",
    ...                   source="rtmp")
    >>> on_status(MediaRecords(MediaMetrics(CollectorRegistry())), state, end, out)
    >>> state.ended, out[0][1].kind, out[0][1].severity
    (True, 'ended', 'info')
    """
    status = r.status or "error"
    if status == "ended":
        state.ended = True
    elif status == "connected":
        state.ended = False
    detail: dict[str, Any] = {"source": r.source}
    if r.error:
        detail["error"] = r.error
    if r.meta:
        detail["meta"] = r.meta
    records.emit(out, state, r, status, SEVERITY.get(status, "warning"), detail)

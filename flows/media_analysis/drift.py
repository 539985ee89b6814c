"""Audio/video drift: the two clocks move apart against their relation at the start."""

from __future__ import annotations

from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.outputs import Output


class DriftWatch:
    """Compares the audio and video clocks once per ``window_seconds`` of the edge's clock.

    ``ts - pts`` is a clock's offset plus the record's delay; its minimum over
    an interval is the offset plus the smallest delay, which network jitter
    cannot lower. The change of (video minimum - audio minimum) since the first
    interval is the drift between the two clocks.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> watch = DriftWatch(MediaConfig(window_seconds=1.0, av_drift_seconds=0.2),
    ...                    MediaRecords(MediaMetrics(CollectorRegistry())))
    >>> state, out = MediaState("cam"), []
    >>> for i in range(40):                  # video falls behind by 20 ms per 100 ms
    ...     t = i / 10
    ...     for kind, lag in (("audio", 0.0), ("video", 0.2 * t)):
    ...         r = MediaRecord(v=1, stream_id="cam", seq=i, ts=100 + t + lag, kind=kind,
    ...                         pts=t, width=2, height=2)
    ...         watch.on_record(state, r, out)
    >>> out[0][1].kind, out[0][1].detail["video_behind_audio"]
    ('av_drift', True)
    """

    def __init__(self, config: MediaConfig, records: MediaRecords) -> None:
        self.config = config
        self.records = records

    def on_record(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        """Note the record's clock offset; compare the clocks when an interval ends."""
        if r.kind in ("video", "audio") and r.pts is not None:
            line = state.video if r.kind == "video" else state.audio
            offset = r.ts - r.pts
            line.min_offset = offset if line.min_offset is None else min(line.min_offset, offset)
        edge_time = r.ts
        if state.drift_interval_end is None:
            state.drift_interval_end = edge_time + self.config.window_seconds
            return
        if edge_time < state.drift_interval_end:
            return
        state.drift_interval_end = edge_time + self.config.window_seconds
        video, audio = state.video.min_offset, state.audio.min_offset
        state.video.min_offset = state.audio.min_offset = None
        if video is None or audio is None:
            return
        gap = video - audio
        if state.drift_baseline is None:
            state.drift_baseline = gap
            return
        drift = gap - state.drift_baseline
        limit = self.config.av_drift_seconds
        if not state.drifting and abs(drift) > limit:
            state.drifting = True
            self.records.condition("drifting", True)
            self.records.emit(out, state, r, "av_drift", "warning",
                              {"drift_seconds": round(drift, 3),
                               "video_behind_audio": drift > 0})
        elif state.drifting and abs(drift) <= limit / 2:
            state.drifting = False
            self.records.condition("drifting", False)
            self.records.emit(out, state, r, "av_drift_recovered", "info",
                              {"drift_seconds": round(drift, 3)})

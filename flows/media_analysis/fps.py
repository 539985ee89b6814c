"""Frame-rate drops: a window's fps under ``fps_drop_ratio`` of the stream's usual fps."""

from __future__ import annotations

from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState, Window
from midstream.flows.outputs import Output


class FpsWatch:
    """Compares each full video window's fps with the stream's usual rate (a moving average).

    A slow window does not drag the usual rate down.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> watch = FpsWatch(MediaConfig(), MediaRecords(MediaMetrics(CollectorRegistry())))
    >>> state, out = MediaState("cam"), []
    >>> frame = MediaRecord(v=1, stream_id="cam", seq=9, ts=1.0, kind="video", pts=9.0,
    ...                     width=2, height=2)
    >>> for fps in (25.0, 25.0, 10.0):
    ...     watch.on_window(state, fps, frame, out, Window(index=0))
    >>> [(r.kind, r.detail["usual_fps"]) for _, r in out]
    [('fps_drop', 25.0)]
    """

    def __init__(self, config: MediaConfig, records: MediaRecords) -> None:
        self.config = config
        self.records = records

    def on_window(self, state: MediaState, fps: float, r: MediaRecord, out: list[Output],
                  w: Window) -> None:
        """Check the fps of window ``w``, closed at record ``r``."""
        usual = state.usual_fps
        ratio = self.config.fps_drop_ratio
        if usual is not None and fps < ratio * usual:
            if not state.slow:
                state.slow = True
                self.records.condition("slow", True)
                self.records.emit(out, state, r, "fps_drop", "warning",
                                  {"fps": round(fps, 2), "usual_fps": round(usual, 2),
                                   "window_start_pts": w.index * self.config.window_seconds})
            return  # a slow window does not drag the usual rate down
        if state.slow:
            state.slow = False
            self.records.condition("slow", False)
            self.records.emit(out, state, r, "fps_recovered", "info",
                              {"fps": round(fps, 2), "usual_fps": round(usual or fps, 2)})
        state.usual_fps = fps if usual is None else 0.7 * usual + 0.3 * fps

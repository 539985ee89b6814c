"""Event-time tumbling windows of one kind's media time, summarised when the stream leaves them."""

from __future__ import annotations

from typing import Any

from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.fps import FpsWatch
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState, Timeline, Window
from midstream.flows.outputs import Output

TIMELINE_JUMP_WINDOWS = 4
"""A pts jump forwards by more than this many windows, or backwards by more than one
window, restarts a kind's timeline."""


class Windows:
    """Opens and closes each kind's windows as its ``pts`` advances.

    A record a little late (less than a window) counts in the current window;
    a jump (a reconnect, a new publisher) closes the window and restarts the
    timeline instead of reporting a bogus gap.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> records = MediaRecords(MediaMetrics(CollectorRegistry()))
    >>> windows = Windows(MediaConfig(window_seconds=1.0), records, FpsWatch(MediaConfig(), records))
    >>> state, line, out = MediaState("mic"), Timeline(), []
    >>> for i in range(3):
    ...     sound = MediaRecord(v=1, stream_id="mic", seq=i, ts=i, kind="audio", pts=0.6 * i,
    ...                         voice=True)
    ...     windows.advance(state, line, 0.6 * i, "audio", sound, out)
    ...     line.window.count += 1; line.window.hits += 1
    >>> [(r.kind, r.detail["records"], r.detail["speech_ratio"]) for _, r in out]
    [('audio_window', 2, 1.0)]
    """

    def __init__(self, config: MediaConfig, records: MediaRecords, fps: FpsWatch) -> None:
        self.config = config
        self.records = records
        self.fps = fps

    def advance(self, state: MediaState, line: Timeline, pts: float, kind: str,
                r: MediaRecord, out: list[Output]) -> None:
        """Close the window ``pts`` has left; restart the timeline after a jump."""
        length = self.config.window_seconds
        last = line.last_pts
        if last is not None and not -length <= pts - last <= TIMELINE_JUMP_WINDOWS * length:
            self.close(state, line, kind, r, out)
            line.window = None
            line.last_pts = line.quiet_since = line.black_since = None
        line.last_pts = pts if line.last_pts is None else max(line.last_pts, pts)
        index = int(line.last_pts // length)
        if line.window is not None and index > line.window.index:
            self.close(state, line, kind, r, out)
            line.window = None
        if line.window is None:
            line.window = Window(index=index, first_pts=pts, last_pts=pts)

    def close(self, state: MediaState, line: Timeline, kind: str, r: MediaRecord,
              out: list[Output]) -> None:
        """Summarise the current window of ``line`` (``audio_window`` or ``video_window``)."""
        w = line.window
        if w is None or w.count == 0:
            return
        length = self.config.window_seconds
        metrics = self.records.metrics
        detail: dict[str, Any] = {"window_start_pts": w.index * length, "seconds": length,
                                  "records": w.count}
        if kind == "audio":
            ratio = w.hits / w.count
            detail.update(speech_ratio=round(ratio, 3), silence_ratio=round(1 - ratio, 3),
                          mean_dbfs=round(w.level_sum / w.count, 2),
                          clipped_ratio=round(w.other_sum / w.count, 5))
            metrics.window_speech_ratio.observe(ratio)
        else:
            span = w.last_pts - w.first_pts
            fps = (w.count - 1) / span if w.count > 1 and span > 0 else None
            detail.update(fps=None if fps is None else round(fps, 2),
                          mean_luma=round(w.level_sum / w.count, 2),
                          mean_motion=round(w.other_sum / w.count, 3),
                          black_ratio=round(w.hits / w.count, 3),
                          jitter=(round(w.jitter_sum / w.jitter_count, 6)
                                  if w.jitter_count else None))
            if fps is not None and span >= 0.5 * length:  # only windows the stream filled
                metrics.window_fps.observe(fps)
                self.fps.on_window(state, fps, r, out, w)
        self.records.emit(out, state, r, f"{kind}_window", "info", detail, instance=w.index)

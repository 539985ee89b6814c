"""Per-stream analysis of media feature records: windows, conditions, drift and regimes.

Pure Python (no Bytewax): :class:`MediaAnalyzer` holds the settings and the
metrics; each stream keeps a :class:`MediaState`, plain data that pickles for
recovery. ``flows/media.py`` wires it into the dataflow.

What it finds, as insights (``detector="media"`` unless noted):

* ``audio_window`` / ``video_window``: one summary per event-time tumbling
  window of ``window_seconds`` of media time: speech and silence ratios, level
  and clipping; frames, fps, jitter, luma, motion and black share;
* ``long_silence`` (then ``sound_resumed``): no voice for ``long_silence_seconds``;
* ``freeze`` (then ``unfreeze``): frames keep coming but nothing moves for
  ``freeze_seconds``; ``black_screen`` (then ``picture_resumed``) likewise for black frames;
* ``fps_drop`` (then ``fps_recovered``): a window's fps under ``fps_drop_ratio``
  of the stream's usual fps;
* ``resolution_changed``;
* ``av_drift`` (then ``av_drift_recovered``): the audio and video clocks move
  apart by more than ``av_drift_seconds`` against their relation at the start;
* ``dead`` (then ``revived``): no audio or video record for ``dead_seconds`` of
  wall-clock time (status records, such as a puller's reconnection attempts, don't count);
* ``connected``, ``dropped``, ``reconnecting``, ``ended``, ``error``: the
  connector's status records;
* ``detector="regime"``: the regime of the motion and audio-level series
  (:class:`midstream.flows.series_analysis.SeriesAnalysis`, the same reporting rules as
  for token latencies);
* ``detector="hook"``, ``kind="<hook>/<label>"``: what a per-stream hook found.

Media time is each kind's own clock (``pts``); when it jumps backwards or far
ahead (a reconnect, a new publisher), that kind's windows and conditions start
afresh instead of reporting a bogus gap.

Examples
--------
>>> from midstream.core.media_events import MediaRecord
>>> analyzer = MediaAnalyzer(MediaConfig(freeze_seconds=1.0, regime_window=0))
>>> state = analyzer.new_state("cam")
>>> found = []
>>> for i in range(60):  # 25 fps, moving for 1 s, then still
...     frame = MediaRecord(v=1, stream_id="cam", seq=i, ts=100 + i / 25, kind="video",
...                         pts=i / 25, width=320, height=240, luma=100.0,
...                         motion=5.0 if i < 25 else 0.0, black=False)
...     found += analyzer.on_record(state, frame, now=100 + i / 25)
>>> [(r["kind"], r["detail"]["since_pts"]) for _, r in found]
[('freeze', 1.0)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from midstream.core import events
from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.core.metrics import MediaMetrics
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import Finding, SeriesAnalysis, SeriesState

SEVERITY = {"connected": "info", "reconnecting": "info", "ended": "info",
            "dropped": "warning", "error": "error"}
TIMELINE_JUMP_WINDOWS = 4
"""A pts jump forwards by more than this many windows, or backwards by more than one
window, restarts a kind's timeline."""


@dataclass(slots=True)
class Window:
    """Sums over one event-time tumbling window of one kind (audio or video)."""

    index: int
    count: int = 0
    first_pts: float = 0.0
    last_pts: float = 0.0
    hits: int = 0
    """Voice windows (audio) or black frames (video)."""
    level_sum: float = 0.0
    """dBFS (audio) or luma (video)."""
    other_sum: float = 0.0
    """Clipped share (audio) or motion (video)."""
    jitter_sum: float = 0.0
    jitter_count: int = 0


@dataclass(slots=True)
class Timeline:
    """One kind's clock: the current window and the condition that watches it."""

    window: Window | None = None
    last_pts: float | None = None
    quiet_since: float | None = None
    """Media time since which the watched condition holds (no motion / no voice)."""
    quiet: bool = False
    black_since: float | None = None
    black: bool = False
    min_offset: float | None = None
    """Smallest ``ts - pts`` in the current drift interval (the least delayed record)."""


@dataclass(slots=True)
class MediaState:
    """One media stream. Plain data: it pickles."""

    stream_id: str
    source: str | None = None
    last_wall: float = 0.0
    """Wall-clock time of the latest record of any kind."""
    last_media_wall: float | None = None
    """Wall-clock time of the latest audio or video record (status records don't count)."""
    last_seq: int = 0
    dead: bool = False
    ended: bool = False
    video: Timeline = field(default_factory=Timeline)
    audio: Timeline = field(default_factory=Timeline)
    width: int | None = None
    height: int | None = None
    usual_fps: float | None = None
    slow: bool = False
    drift_interval_end: float | None = None
    drift_baseline: float | None = None
    drifting: bool = False
    series: dict[str, SeriesState] = field(default_factory=dict)


class MediaAnalyzer:
    """Settings, series analysis and metrics shared by every media stream.

    Parameters
    ----------
    config
        Thresholds and windows (:class:`midstream.core.config.MediaConfig`).
    metrics
        Where to count; a private registry's metrics when None.
    """

    def __init__(self, config: MediaConfig | None = None,
                 metrics: MediaMetrics | None = None) -> None:
        from prometheus_client import CollectorRegistry

        self.config = config or MediaConfig()
        self.metrics = metrics or MediaMetrics(CollectorRegistry())
        self.series = SeriesAnalysis(regime_window=self.config.regime_window,
                                     regime_every=self.config.regime_every,
                                     lyapunov_window=0)

    def new_state(self, stream_id: str) -> MediaState:
        """Fresh state for a stream seen for the first time."""
        self.metrics.streams_open.inc()
        return MediaState(stream_id=stream_id)

    # -- records ---------------------------------------------------------------------------

    def on_record(self, state: MediaState, record: MediaRecord, now: float) -> list[Output]:
        """Analyse one record; return the insights it makes certain."""
        out: list[Output] = []
        self.metrics.records.labels(record.kind).inc()
        self.metrics.record_delay.observe(max(0.0, now - record.ts))
        media = record.kind in ("video", "audio")
        if state.dead and media:
            state.dead = False
            self._condition("dead", False)
            self._emit(out, state, record, "revived", "info",
                       {"silent_for_seconds": round(now - (state.last_media_wall or now), 3)})
        if media or state.last_media_wall is None:
            state.last_media_wall = now  # a stream that connects and sends nothing dies too
        state.last_wall = now
        state.last_seq = record.seq
        state.source = record.source or state.source
        if record.kind == "video":
            self._on_video(state, record, out)
        elif record.kind == "audio":
            self._on_audio(state, record, out)
        elif record.kind == "status":
            self._on_status(state, record, out)
        else:
            self._emit(out, state, record, f"{record.hook}/{record.label}", "info",
                       {"pts": record.pts, "text": record.text, "score": record.score,
                        "meta": record.meta}, detector="hook")
        self._check_drift(state, record, out)
        return out

    def _on_video(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        cfg = self.config
        pts = float(r.pts)  # type: ignore[arg-type]  # required for video by the contract
        line = state.video
        self._advance(state, line, pts, "video", r, out)
        if r.resolution_changed or (state.width is not None
                                    and (r.width, r.height) != (state.width, state.height)):
            self._emit(out, state, r, "resolution_changed", "info",
                       {"pts": pts, "from": [state.width, state.height],
                        "to": [r.width, r.height]})
        state.width, state.height = r.width, r.height
        w = line.window
        assert w is not None
        w.count += 1
        w.last_pts = pts
        w.level_sum += r.luma or 0.0
        w.other_sum += r.motion or 0.0
        w.hits += bool(r.black)
        if r.jitter is not None:
            w.jitter_sum += r.jitter
            w.jitter_count += 1
        # Freeze: no motion for freeze_seconds of media time while frames arrive.
        still = (r.motion or 0.0) <= cfg.freeze_motion and not r.black
        line.quiet, line.quiet_since = self._hold(
            state, r, out, still, pts, line.quiet, line.quiet_since, cfg.freeze_seconds,
            ("freeze", "warning", "unfreeze", "frozen"))
        line.black, line.black_since = self._hold(
            state, r, out, bool(r.black), pts, line.black, line.black_since, cfg.black_seconds,
            ("black_screen", "warning", "picture_resumed", "black"))
        if r.motion is not None:
            self._series(state, "motion", r.motion, r.seq, out, r)

    def _on_audio(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        cfg = self.config
        pts = float(r.pts)  # type: ignore[arg-type]
        line = state.audio
        self._advance(state, line, pts, "audio", r, out)
        w = line.window
        assert w is not None
        w.count += 1
        w.last_pts = pts
        w.hits += bool(r.voice)
        w.level_sum += r.rms_dbfs or 0.0
        w.other_sum += r.clipped or 0.0
        line.quiet, line.quiet_since = self._hold(
            state, r, out, not r.voice, pts, line.quiet, line.quiet_since,
            cfg.long_silence_seconds, ("long_silence", "info", "sound_resumed", "silent"))
        if r.rms_dbfs is not None:
            self._series(state, "audio_level", r.rms_dbfs, r.seq, out, r)

    def _on_status(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
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
        self._emit(out, state, r, status, SEVERITY.get(status, "warning"), detail)

    # -- windows and conditions ------------------------------------------------------------

    def _advance(self, state: MediaState, line: Timeline, pts: float, kind: str,
                 r: MediaRecord, out: list[Output]) -> None:
        """Close the window ``pts`` has left; restart the timeline after a jump."""
        length = self.config.window_seconds
        last = line.last_pts
        # A record a little late (less than a window) counts in the current window.
        if last is not None and not -length <= pts - last <= TIMELINE_JUMP_WINDOWS * length:
            self._close(state, line, kind, r, out)
            line.window = None
            line.last_pts = line.quiet_since = line.black_since = None
        line.last_pts = pts if line.last_pts is None else max(line.last_pts, pts)
        index = int(line.last_pts // length)
        if line.window is not None and index > line.window.index:
            self._close(state, line, kind, r, out)
            line.window = None
        if line.window is None:
            line.window = Window(index=index, first_pts=pts, last_pts=pts)

    def _close(self, state: MediaState, line: Timeline, kind: str, r: MediaRecord,
               out: list[Output]) -> None:
        w = line.window
        if w is None or w.count == 0:
            return
        length = self.config.window_seconds
        detail: dict[str, Any] = {"window_start_pts": w.index * length, "seconds": length,
                                  "records": w.count}
        if kind == "audio":
            ratio = w.hits / w.count
            detail.update(speech_ratio=round(ratio, 3), silence_ratio=round(1 - ratio, 3),
                          mean_dbfs=round(w.level_sum / w.count, 2),
                          clipped_ratio=round(w.other_sum / w.count, 5))
            self.metrics.window_speech_ratio.observe(ratio)
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
                self.metrics.window_fps.observe(fps)
                self._check_fps(state, fps, r, out, w)
        self._emit(out, state, r, f"{kind}_window", "info", detail, instance=w.index)

    def _check_fps(self, state: MediaState, fps: float, r: MediaRecord, out: list[Output],
                   w: Window) -> None:
        usual = state.usual_fps
        ratio = self.config.fps_drop_ratio
        if usual is not None and fps < ratio * usual:
            if not state.slow:
                state.slow = True
                self._condition("slow", True)
                self._emit(out, state, r, "fps_drop", "warning",
                           {"fps": round(fps, 2), "usual_fps": round(usual, 2),
                            "window_start_pts": w.index * self.config.window_seconds})
            return  # a slow window does not drag the usual rate down
        if state.slow:
            state.slow = False
            self._condition("slow", False)
            self._emit(out, state, r, "fps_recovered", "info",
                       {"fps": round(fps, 2), "usual_fps": round(usual or fps, 2)})
        state.usual_fps = fps if usual is None else 0.7 * usual + 0.3 * fps

    def _hold(self, state: MediaState, r: MediaRecord, out: list[Output], holds: bool,
              pts: float, active: bool, since: float | None, seconds: float,
              names: tuple[str, str, str, str]) -> tuple[bool, float | None]:
        """Track a condition that counts once it has held for ``seconds`` of media time."""
        started, severity, ended, condition = names
        if not holds:
            if active:
                self._condition(condition, False)
                self._emit(out, state, r, ended, "info",
                           {"pts": pts, "lasted_seconds": round(pts - (since or pts), 3)})
            return False, None
        since = pts if since is None else since
        if not active and pts - since >= seconds:
            self._condition(condition, True)
            self._emit(out, state, r, started, severity,
                       {"since_pts": round(since, 3), "pts": pts})
            return True, since
        return active, since

    def _check_drift(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        """Compare the audio and video clocks once per ``window_seconds`` of the edge's clock.

        ``ts - pts`` is a clock's offset plus the record's delay; its minimum over
        an interval is the offset plus the smallest delay, which network jitter
        cannot lower. The change of (video minimum - audio minimum) since the first
        interval is the drift between the two clocks.
        """
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
            self._condition("drifting", True)
            self._emit(out, state, r, "av_drift", "warning",
                       {"drift_seconds": round(drift, 3),
                        "video_behind_audio": drift > 0})
        elif state.drifting and abs(drift) <= limit / 2:
            state.drifting = False
            self._condition("drifting", False)
            self._emit(out, state, r, "av_drift_recovered", "info",
                       {"drift_seconds": round(drift, 3)})

    def _series(self, state: MediaState, name: str, value: float, seq: int,
                out: list[Output], r: MediaRecord) -> None:
        if not self.series.active:
            return
        series = state.series.get(name)
        if series is None:
            series = state.series[name] = self.series.new_state(name)
        for finding in self.series.on_sample(series, value, seq):
            self._emit_finding(out, state, r, finding)

    # -- timers ----------------------------------------------------------------------------

    def next_timer(self, state: MediaState) -> float:
        """Wall-clock time of this stream's next check (dead stream, or forgetting it)."""
        if state.dead or state.ended:
            return state.last_wall + self.config.forget_seconds
        return (state.last_media_wall or state.last_wall) + self.config.dead_seconds

    def on_timer(self, state: MediaState, now: float) -> tuple[list[Output], bool]:
        """Fire due timers; returns the insights and whether to forget the stream."""
        if now < self.next_timer(state):
            return [], False
        if state.dead or state.ended:
            self.metrics.streams_open.dec()
            if state.dead:
                self._condition("dead", False)
            self._clear_conditions(state)
            return [], True
        state.dead = True
        self._condition("dead", True)
        record = events.insight(
            stream_id=state.stream_id, ts=now, detector="media", kind="dead", severity="error",
            at_seq=state.last_seq,
            detail={"silent_for_seconds": round(now - (state.last_media_wall or now), 3),
                    "source": state.source, "last_video_pts": state.video.last_pts,
                    "last_audio_pts": state.audio.last_pts})
        self.metrics.insights.labels("media", "dead").inc()
        return [("insights", record)], False

    def on_input_end(self, state: MediaState) -> list[Output]:
        """The end of a bounded input changes nothing: a media stream's timers are wall-clock."""
        return []

    def _clear_conditions(self, state: MediaState) -> None:
        for active, name in ((state.video.quiet, "frozen"), (state.video.black, "black"),
                             (state.audio.quiet, "silent"), (state.slow, "slow"),
                             (state.drifting, "drifting")):
            if active:
                self._condition(name, False)

    # -- output ----------------------------------------------------------------------------

    def _condition(self, name: str, on: bool) -> None:
        gauge = self.metrics.in_condition.labels(name)
        gauge.inc() if on else gauge.dec()

    def _emit(self, out: list[Output], state: MediaState, r: MediaRecord, kind: str,
              severity: str, detail: dict[str, Any], *, detector: str = "media",
              instance: int | str | None = None) -> None:
        self.metrics.insights.labels(detector, kind if detector != "hook" else "label").inc()
        out.append(("insights", events.insight(
            stream_id=state.stream_id, ts=r.ts, detector=detector, kind=kind,
            severity=severity, at_seq=r.seq, detail=detail, instance=instance)))

    def _emit_finding(self, out: list[Output], state: MediaState, r: MediaRecord,
                      finding: Finding) -> None:
        detail = dict(finding.detail)
        detail["pts"] = r.pts
        self._emit(out, state, r, finding.kind, finding.severity, detail,
                   detector=finding.detector, instance=detail.get("series"))

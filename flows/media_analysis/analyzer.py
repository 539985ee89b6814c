"""The media analyzer: one feature record at a time, through every detector of a media stream.

Pure Python (no Bytewax): :class:`MediaAnalyzer` holds the settings and the
metrics; each stream keeps a :class:`~midstream.flows.media_analysis.state.MediaState`,
plain data that pickles for recovery. ``flows/media.py`` wires it into the dataflow.
"""

from __future__ import annotations

from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.core.metrics import MediaMetrics
from midstream.flows.media_analysis.conditions import (
    BLACK_SCREEN,
    FREEZE,
    LONG_SILENCE,
    HeldConditions,
)
from midstream.flows.media_analysis.dead_streams import DeadStreams
from midstream.flows.media_analysis.drift import DriftWatch
from midstream.flows.media_analysis.fps import FpsWatch
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.media_analysis.status import on_status
from midstream.flows.media_analysis.windows import Windows
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import SeriesAnalysis


class MediaAnalyzer:
    """Settings, series analysis and metrics shared by every media stream.

    Parameters
    ----------
    config
        Thresholds and windows (:class:`midstream.core.config.MediaConfig`).
    metrics
        Where to count; a private registry's metrics when None.

    Examples
    --------
    >>> analyzer = MediaAnalyzer(MediaConfig(regime_window=0))
    >>> state = analyzer.new_state("cam")
    >>> hello = MediaRecord(v=1, stream_id="cam", seq=0, ts=1.0, kind="status",
    ...                     status="connected", source="rtmp")
    >>> [r.kind for _, r in analyzer.on_record(state, hello, now=1.0)]
    ['connected']
    """

    def __init__(self, config: MediaConfig | None = None,
                 metrics: MediaMetrics | None = None) -> None:
        from prometheus_client import CollectorRegistry

        self.config = config or MediaConfig()
        self.metrics = metrics or MediaMetrics(CollectorRegistry())
        self.series = SeriesAnalysis(regime_window=self.config.regime_window,
                                     regime_every=self.config.regime_every,
                                     lyapunov_window=0)
        self.records = MediaRecords(self.metrics)
        self.windows = Windows(self.config, self.records, FpsWatch(self.config, self.records))
        self.held = HeldConditions(self.records)
        self.drift = DriftWatch(self.config, self.records)
        self.dead_streams = DeadStreams(self.config, self.records)

    def warm_up(self) -> None:
        """Compile the series analysis's numeric kernels before the first record.

        Otherwise the first stream whose motion or audio level varies stalls every
        stream of its worker for the compile (:meth:`SeriesAnalysis.warm_up`).

        Examples
        --------
        >>> MediaAnalyzer().warm_up()
        """
        self.series.warm_up()

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
        self.dead_streams.on_arrival(state, record, now, out)
        state.last_seq = record.seq
        state.source = record.source or state.source
        if record.kind == "video":
            self._on_video(state, record, out)
        elif record.kind == "audio":
            self._on_audio(state, record, out)
        elif record.kind == "status":
            on_status(self.records, state, record, out)
        else:
            self.records.emit(out, state, record, f"{record.hook}/{record.label}", "info",
                              {"pts": record.pts, "text": record.text, "score": record.score,
                               "meta": record.meta}, detector="hook")
        self.drift.on_record(state, record, out)
        return out

    def _on_video(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        cfg = self.config
        pts = float(r.pts)  # type: ignore[arg-type]  # required for video by the contract
        line = state.video
        self.windows.advance(state, line, pts, "video", r, out)
        if r.resolution_changed or (state.width is not None
                                    and (r.width, r.height) != (state.width, state.height)):
            self.records.emit(out, state, r, "resolution_changed", "info",
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
        line.quiet, line.quiet_since = self.held.hold(
            state, r, out, still, pts, line.quiet, line.quiet_since, cfg.freeze_seconds, FREEZE)
        line.black, line.black_since = self.held.hold(
            state, r, out, bool(r.black), pts, line.black, line.black_since, cfg.black_seconds,
            BLACK_SCREEN)
        if r.motion is not None:
            self._series(state, "motion", r.motion, r.seq, out, r)

    def _on_audio(self, state: MediaState, r: MediaRecord, out: list[Output]) -> None:
        cfg = self.config
        pts = float(r.pts)  # type: ignore[arg-type]
        line = state.audio
        self.windows.advance(state, line, pts, "audio", r, out)
        w = line.window
        assert w is not None
        w.count += 1
        w.last_pts = pts
        w.hits += bool(r.voice)
        w.level_sum += r.rms_dbfs or 0.0
        w.other_sum += r.clipped or 0.0
        line.quiet, line.quiet_since = self.held.hold(
            state, r, out, not r.voice, pts, line.quiet, line.quiet_since,
            cfg.long_silence_seconds, LONG_SILENCE)
        if r.rms_dbfs is not None:
            self._series(state, "audio_level", r.rms_dbfs, r.seq, out, r)

    def _series(self, state: MediaState, name: str, value: float, seq: int,
                out: list[Output], r: MediaRecord) -> None:
        if not self.series.active:
            return
        series = state.series.get(name)
        if series is None:
            series = state.series[name] = self.series.new_state(name)
        for finding in self.series.on_sample(series, value, seq):
            self.records.emit_finding(out, state, r, finding)

    # -- timers ----------------------------------------------------------------------------

    def next_timer(self, state: MediaState) -> float:
        """Wall-clock time of this stream's next check (dead stream, or forgetting it)."""
        return self.dead_streams.next_timer(state)

    def on_timer(self, state: MediaState, now: float) -> tuple[list[Output], bool]:
        """Fire due timers; returns the insights and whether to forget the stream."""
        return self.dead_streams.on_timer(state, now)

    def on_input_end(self, state: MediaState) -> list[Output]:
        """Return nothing at the end of a bounded input: a media stream's timers are wall-clock."""
        return []

    def forget(self, state: MediaState) -> None:
        """Drop a stream before its time (its analysis raised): undo its gauges."""
        self.metrics.streams_open.dec()
        if state.dead:
            self.records.condition("dead", False)
        self.dead_streams._clear_conditions(state)

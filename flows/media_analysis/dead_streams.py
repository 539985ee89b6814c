"""Dead streams: no audio or video for ``dead_seconds`` of wall-clock time, then revived or forgotten.

A dead stream sends nothing, so a timer finds it. Status records (a puller's
reconnection attempts) don't count as life; a stream that connects and sends
nothing dies too.
"""

from __future__ import annotations

from midstream.core import events
from midstream.core.config import MediaConfig
from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.outputs import Output


class DeadStreams:
    """The wall-clock timers of a media stream.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> dead = DeadStreams(MediaConfig(dead_seconds=5.0),
    ...                    MediaRecords(MediaMetrics(CollectorRegistry())))
    >>> state = MediaState("cam", last_wall=100.0, last_media_wall=100.0)
    >>> dead.next_timer(state)
    105.0
    >>> out, forget = dead.on_timer(state, 105.5)
    >>> out[0][1].kind, out[0][1].detail["silent_for_seconds"], forget
    ('dead', 5.5, False)
    """

    def __init__(self, config: MediaConfig, records: MediaRecords) -> None:
        self.config = config
        self.records = records

    def on_arrival(self, state: MediaState, r: MediaRecord, now: float,
                   out: list[Output]) -> None:
        """Note a record's arrival; media from a dead stream revives it."""
        media = r.kind in ("video", "audio")
        if state.dead and media:
            state.dead = False
            self.records.condition("dead", False)
            self.records.emit(out, state, r, "revived", "info",
                              {"silent_for_seconds": round(now - (state.last_media_wall or now),
                                                           3)})
        if media or state.last_media_wall is None:
            state.last_media_wall = now  # a stream that connects and sends nothing dies too
        state.last_wall = now

    def next_timer(self, state: MediaState) -> float:
        """Wall-clock time of this stream's next check (dead stream, or forgetting it)."""
        if state.dead or state.ended:
            return state.last_wall + self.config.forget_seconds
        return (state.last_media_wall or state.last_wall) + self.config.dead_seconds

    def on_timer(self, state: MediaState, now: float) -> tuple[list[Output], bool]:
        """Fire due timers; returns the insights and whether to forget the stream."""
        if now < self.next_timer(state):
            return [], False
        metrics = self.records.metrics
        if state.dead or state.ended:
            metrics.streams_open.dec()
            if state.dead:
                self.records.condition("dead", False)
            self._clear_conditions(state)
            return [], True
        state.dead = True
        self.records.condition("dead", True)
        record = events.insight(
            stream_id=state.stream_id, ts=now, detector="media", kind="dead", severity="error",
            at_seq=state.last_seq,
            detail={"silent_for_seconds": round(now - (state.last_media_wall or now), 3),
                    "source": state.source, "last_video_pts": state.video.last_pts,
                    "last_audio_pts": state.audio.last_pts})
        metrics.insights.labels("media", "dead").inc()
        return [("insights", record)], False

    def _clear_conditions(self, state: MediaState) -> None:
        for active, name in ((state.video.quiet, "frozen"), (state.video.black, "black"),
                             (state.audio.quiet, "silent"), (state.slow, "slow"),
                             (state.drifting, "drifting")):
            if active:
                self.records.condition(name, False)

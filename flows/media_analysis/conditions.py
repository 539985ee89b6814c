"""Conditions that count once they have held for some media time: freeze, black screen, silence."""

from __future__ import annotations

from typing import NamedTuple

from midstream.core.media_events import MediaRecord
from midstream.flows.media_analysis.records import MediaRecords
from midstream.flows.media_analysis.state import MediaState
from midstream.flows.outputs import Output


class Condition(NamedTuple):
    """The names of one held condition."""

    started: str
    """Insight kind when it has held long enough (``freeze``)."""
    severity: str
    ended: str
    """Insight kind when it stops holding (``unfreeze``)."""
    gauge: str
    """Its label on the ``in_condition`` gauge (``frozen``)."""


FREEZE = Condition("freeze", "warning", "unfreeze", "frozen")
BLACK_SCREEN = Condition("black_screen", "warning", "picture_resumed", "black")
LONG_SILENCE = Condition("long_silence", "info", "sound_resumed", "silent")


class HeldConditions:
    """Tracks a condition that counts once it has held for ``seconds`` of media time.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import MediaMetrics
    >>> held = HeldConditions(MediaRecords(MediaMetrics(CollectorRegistry())))
    >>> state, out, active, since = MediaState("cam"), [], False, None
    >>> for i in range(4):
    ...     pts = 1.0 + i
    ...     frame = MediaRecord(v=1, stream_id="cam", seq=i, ts=pts, kind="video", pts=pts,
    ...                         width=2, height=2)
    ...     active, since = held.hold(state, frame, out, i < 3, pts, active, since, 2.0, FREEZE)
    >>> [(r.kind, r.detail) for _, r in out]
    [('freeze', {'since_pts': 1.0, 'pts': 3.0}), ('unfreeze', {'pts': 4.0, 'lasted_seconds': 3.0})]

    A condition held from the very first frame (``pts`` 0.0) lasts as long as any other:

    >>> state, out, active, since = MediaState("cam"), [], False, None
    >>> for i in range(4):
    ...     frame = MediaRecord(v=1, stream_id="cam", seq=i, ts=float(i), kind="video",
    ...                         pts=float(i), width=2, height=2)
    ...     active, since = held.hold(state, frame, out, i < 3, float(i), active, since, 2.0,
    ...                               FREEZE)
    >>> out[-1][1].detail
    {'pts': 3.0, 'lasted_seconds': 3.0}
    """

    def __init__(self, records: MediaRecords) -> None:
        self.records = records

    def hold(self, state: MediaState, r: MediaRecord, out: list[Output], holds: bool,
             pts: float, active: bool, since: float | None, seconds: float,
             condition: Condition) -> tuple[bool, float | None]:
        """Update one condition with record ``r``; return whether it is active, and since when."""
        if not holds:
            if active:
                began = pts if since is None else since  # 0.0 is a start like any other
                self.records.condition(condition.gauge, False)
                self.records.emit(out, state, r, condition.ended, "info",
                                  {"pts": pts, "lasted_seconds": round(pts - began, 3)})
            return False, None
        since = pts if since is None else since
        if not active and pts - since >= seconds:
            self.records.condition(condition.gauge, True)
            self.records.emit(out, state, r, condition.started, condition.severity,
                              {"since_pts": round(since, 3), "pts": pts})
            return True, since
        return active, since

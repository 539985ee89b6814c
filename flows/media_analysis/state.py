"""What one media stream's analysis remembers: plain data that pickles, for Bytewax recovery."""

from __future__ import annotations

from dataclasses import dataclass, field

from midstream.flows.series_analysis import SeriesState


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

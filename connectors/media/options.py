"""How a :class:`~midstream.connectors.media.pull.MediaPuller` opens its URL and retries: one frozen object.

Examples
--------
>>> options = PullOptions(max_backoff_s=4.0)
>>> source_kind("rtmp://127.0.0.1:1935/live/cam1"), source_kind("http://h/hls/cam1.m3u8")
('rtmp', 'hls')
>>> container_options("hls", options)["live_start_index"]
'-1'
>>> [backoff_delay(n, options, jitter=0.0) for n in range(1, 6)]
[0.5, 1.0, 2.0, 4.0, 4.0]
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from midstream.connectors.media.exceptions import PullConfigError

SOURCE_KINDS = ("rtmp", "hls", "file")
"""The ``source`` of a pulled stream's records."""


@dataclass(frozen=True)
class PullOptions:
    """Opening, reading and retry settings of a pulled stream.

    Attributes
    ----------
    probesize, analyzeduration_us
        How much FFmpeg reads (bytes) and analyses (microseconds) before the
        first frame. The small defaults bring the first frame of a live RTMP
        stream to about 0.45 s instead of 1.8 s; ``fflags=nobuffer`` would be
        slower, not faster, so it is not set.
    rejoin_analyzeduration_us
        Joining an RTMP stream that is already live, the short probe can end
        before the first video packet (nginx-rtmp waits for a keyframe, up to
        one GOP). When the metadata announces video that the probe did not
        find, the URL is opened once more with this longer analysis.
    open_timeout_s, read_timeout_s
        PyAV's ``timeout=(open, read)``: the longest a connect, or one read,
        may wait for data. The read timeout also bounds how long
        :meth:`~midstream.connectors.media.pull.MediaPuller.stop` waits on a silent source.
    initial_backoff_s, max_backoff_s, backoff_factor
        Retry delays grow ``initial * factor**(attempt-1)`` up to ``max``, each
        with up to ``jitter`` (a fraction) of random spread, so many pullers of
        one failed server do not reconnect in lockstep.
    jitter
        Fraction in ``[0, 1]`` of each delay that is random.
    max_attempts
        Give up after this many failed attempts in a row; ``None`` retries
        forever. The count restarts after a connection that delivered frames.
    hls_live_start_index
        FFmpeg's ``live_start_index`` for live playlists: ``-1`` joins at the
        newest segment, closest to live.
    resume_window_s
        For sources with a position (HLS, files): at the head of a new
        session, frames at or before the last delivered timestamp, and no more
        than this many seconds before it, are skipped as already delivered.
        Earlier frames mean a new timeline (a restarted publisher) and are
        kept. It should cover how far behind live a rejoin starts (about one
        segment with ``live_start_index=-1``); a publisher that restarts less
        than this far before the old position loses its first frames instead.
    gap_threshold_s
        A forward jump in media time larger than this, inside one connection,
        is reported as lost data (an ``error`` status); ``None`` disables it
        (for sources that legitimately pause, such as variable-rate screen capture).
    video, audio
        Which streams to decode.
    """

    probesize: int = 32768
    analyzeduration_us: int = 200_000
    rejoin_analyzeduration_us: int = 2_000_000
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    backoff_factor: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None
    hls_live_start_index: int = -1
    resume_window_s: float = 10.0
    gap_threshold_s: float | None = 0.5
    video: bool = True
    audio: bool = True

    def __post_init__(self) -> None:
        if self.probesize < 32:
            raise PullConfigError(f"probesize must be at least 32 bytes, got {self.probesize}")
        if self.rejoin_analyzeduration_us < 0:
            raise PullConfigError(
                f"rejoin_analyzeduration_us must be >= 0, got {self.rejoin_analyzeduration_us}")
        if self.analyzeduration_us < 0:
            raise PullConfigError(
                f"analyzeduration_us must be >= 0, got {self.analyzeduration_us}")
        for name in ("open_timeout_s", "read_timeout_s", "initial_backoff_s"):
            if not getattr(self, name) > 0:
                raise PullConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.max_backoff_s < self.initial_backoff_s:
            raise PullConfigError(
                f"max_backoff_s ({self.max_backoff_s}) must be >= initial_backoff_s "
                f"({self.initial_backoff_s})")
        if self.backoff_factor < 1.0:
            raise PullConfigError(f"backoff_factor must be >= 1, got {self.backoff_factor}")
        if not 0.0 <= self.jitter <= 1.0:
            raise PullConfigError(f"jitter must be in [0, 1], got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise PullConfigError(
                f"max_attempts must be None (forever) or >= 1, got {self.max_attempts}")
        if self.resume_window_s < 0:
            raise PullConfigError(f"resume_window_s must be >= 0, got {self.resume_window_s}")
        if self.gap_threshold_s is not None and not self.gap_threshold_s > 0:
            raise PullConfigError(
                f"gap_threshold_s must be None (off) or > 0, got {self.gap_threshold_s}")
        if not (self.video or self.audio):
            raise PullConfigError("at least one of video and audio must be True")


def source_kind(url: str) -> str:
    """Classify a URL as ``"rtmp"``, ``"hls"`` (playlists and other HTTP) or ``"file"``.

    Examples
    --------
    >>> [source_kind(u) for u in ("rtmps://h/app/s", "https://h/a.m3u8?t=1", "/tmp/a.mp4")]
    ['rtmp', 'hls', 'file']
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme.startswith("rtmp"):
        return "rtmp"
    if scheme in ("http", "https") or parts.path.lower().endswith(".m3u8"):
        return "hls"
    return "file"


def container_options(kind: str, options: PullOptions) -> dict[str, str]:
    """Return the FFmpeg options (``av.open(options=...)``) for a source of ``kind``.

    Examples
    --------
    >>> sorted(container_options("rtmp", PullOptions()))
    ['analyzeduration', 'probesize', 'rtmp_live']
    """
    if kind not in SOURCE_KINDS:
        raise PullConfigError(f"source kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    opts = {"probesize": str(options.probesize),
            "analyzeduration": str(options.analyzeduration_us)}
    if kind == "rtmp":
        # Ask for a live stream: a server that also has a recording must not replay it.
        opts["rtmp_live"] = "live"
    elif kind == "hls":
        opts["live_start_index"] = str(options.hls_live_start_index)
    return opts


def backoff_delay(attempt: int, options: PullOptions, *, jitter: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Return the delay in seconds before retry number ``attempt`` (1-based).

    The delay is ``min(max, initial * factor**(attempt - 1))``, of which the
    fraction ``jitter`` (default ``options.jitter``) is random: the result lies
    in ``[(1 - jitter) * d, d]``, so it never exceeds ``max_backoff_s``.

    Examples
    --------
    >>> d = backoff_delay(3, PullOptions(), rng=random.Random(1))
    >>> 1.6 <= d <= 2.0
    True
    """
    if attempt < 1:
        raise PullConfigError(f"attempt must be >= 1, got {attempt}")
    spread = options.jitter if jitter is None else jitter
    # Cap the exponent: factor**attempt overflows a float long before anyone waits that long.
    exponent = min(attempt - 1, 1024)
    try:
        delay = options.initial_backoff_s * options.backoff_factor ** exponent
    except OverflowError:
        delay = options.max_backoff_s
    delay = min(options.max_backoff_s, delay)
    if spread:
        delay *= 1.0 - spread * (rng or random).random()
    return delay

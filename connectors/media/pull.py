"""Pulling RTMP, HLS and file streams with PyAV, turning every decoded frame into feature records.

One :class:`MediaPuller` reads one URL. It opens the URL with low-latency
probe settings, demuxes and decodes the audio and video streams, and hands
each frame to a :class:`~midstream.connectors.media.features.FeatureTap`, which emits
one record per video frame and per 20 ms of audio. The connection's state
becomes status records on the same stream:

* ``connected`` after each successful open, with codecs, size and rates in ``meta``;
* ``error`` when an attempt to open fails (``error`` says why, e.g.
  ``"rtmp://127.0.0.1:1234/live/x: Connection refused"``);
* ``dropped`` when an open connection fails or ends, then
  ``reconnecting`` with the attempt number and the backoff in ``meta``;
* ``error`` also, without a reconnect, when media time jumps forward by more
  than ``gap_threshold_s`` inside a connection: FFmpeg reads past a truncated
  HLS segment without complaint, so the gap is the only trace of lost data;
* ``ended`` when the puller is stopped, or a finite source (a file, a playlist
  with ``#EXT-X-ENDLIST``) has been read to its end.

Nothing a source sends can crash the puller: undecodable packets are skipped
and counted, and failed connections are retried with jittered exponential
backoff (:func:`~midstream.connectors.media.options.backoff_delay`) until stopped.

**Resuming.** An HLS playlist, or a file, has a position: the media time of
the last delivered frame (:attr:`MediaPuller.position`). After a reconnect,
frames at or before it are skipped, so a reconnect to the same playlist does
not count the same segments twice. Live RTMP cannot be resumed: the server
sends only what is live, what was missed while disconnected is gone, and the
gap is reported by the ``dropped`` / ``reconnecting`` / ``connected`` records
instead. A restarted RTMP publisher starts a new timeline near 0.

**Timestamps** are the source's: ``pts`` is ``frame.time``. HLS timestamps are
the segments' MPEG-TS times, offset from the publisher's by the HLS muxer's
delay, so compare ``pts`` within one source, not between RTMP and HLS.

**Stopping.** PyAV exposes no interrupt callback, only ``timeout=(open, read)``,
so a read that waits on a silent source ends only by its timeout: ``stop``
takes up to ``read_timeout_s`` (``open_timeout_s`` while connecting); on a
flowing stream, or in a backoff wait, it is immediate.

Examples
--------
Read a short file (generated here, as our tests do) into records:

>>> import subprocess, tempfile, threading, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "clip.mp4"
>>> _ = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
...                     "-t", "1", "-pix_fmt", "yuv420p", str(path)], check=True)
>>> records = []
>>> puller = MediaPuller(str(path), "clip", records.append)
>>> puller.run(threading.Event())
>>> [r.status for r in records if r.kind == "status"]
['connected', 'ended']
>>> sum(r.kind == "video" for r in records), puller.stats.frames
(10, 10)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import av.container

from midstream.connectors.media.features import FeatureTap
from midstream.connectors.media.options import (
    PullOptions,
    backoff_delay,
    container_options,
    source_kind,
)
from midstream.core.media_events import MediaRecord

log = logging.getLogger(__name__)

Emit = Callable[[MediaRecord], None]
DEFAULT_OPTIONS = PullOptions()


@dataclass(frozen=True)
class PullPosition:
    """Media time (seconds) of the last video and audio frame delivered; ``None`` before any.

    Small and picklable, so a Bytewax partition can return it from ``snapshot()``.
    """

    video_pts: float | None = None
    audio_pts: float | None = None


@dataclass
class PullStats:
    """Counters of one puller, readable from any thread.

    Attributes
    ----------
    frames
        Frames handed to the feature tap (both kinds).
    video_frames, audio_frames
        The same, per kind.
    connects
        Successful opens.
    reconnects
        Retries scheduled (one per ``reconnecting`` record).
    errors
        Failed opens and dropped connections.
    decode_errors
        Packets that could not be decoded and were skipped.
    feature_errors
        Decoded frames on which the feature tap failed (logged, skipped).
    skipped_frames
        Frames skipped on resume because they were already delivered.
    gaps
        Jumps forward in media time larger than ``gap_threshold_s`` inside one
        connection, each reported as an ``error`` status record.
    long_probes
        Opens repeated with ``rejoin_analyzeduration_us`` because the short
        probe found no video that the stream's metadata announced.
    """

    frames: int = 0
    video_frames: int = 0
    audio_frames: int = 0
    connects: int = 0
    reconnects: int = 0
    errors: int = 0
    decode_errors: int = 0
    feature_errors: int = 0
    skipped_frames: int = 0
    gaps: int = 0
    long_probes: int = 0


class _SessionEnd(Exception):
    """Internal: why a connection ended (``reason`` is the status record's ``error``)."""

    def __init__(self, reason: str | None, *, opened: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.opened = opened


_VIDEO_METADATA = frozenset({"videocodecid", "width", "displaywidth", "framerate"})
"""FLV/RTMP metadata keys that announce a video stream (nginx-rtmp sends ``displayWidth``)."""


def _announces_video(container: av.container.InputContainer) -> bool:
    return any(key.lower() in _VIDEO_METADATA for key in container.metadata)


class MediaPuller:
    """Reads one RTMP, HLS or file URL and emits its feature and status records.

    Parameters
    ----------
    url
        ``rtmp://...``, an HLS playlist (``http(s)://...m3u8``), or a local file.
    stream_id
        The stream's id (the key of its records).
    emit
        Called with each record, on the puller's thread (for Kafka, a
        :class:`~midstream.connectors.media.publisher.KafkaRecordPublisher`).
    options
        Opening, reading and retry settings.
    hooks
        Per-stream hooks for the feature tap (:mod:`midstream.connectors.media.hooks`).
    clock
        Wall clock for the records' ``ts``.

    Attributes
    ----------
    source
        ``"rtmp"``, ``"hls"`` or ``"file"``, from the URL.
    stats
        A :class:`PullStats`.
    """

    def __init__(self, url: str, stream_id: str, emit: Emit, *,
                 options: PullOptions = DEFAULT_OPTIONS, hooks: Sequence[object] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.stream_id = stream_id
        self.options = options
        self.source = source_kind(url)
        self.tap = FeatureTap(stream_id, self.source, emit, hooks=hooks, clock=clock)
        self.stats = PullStats()
        self._resumable = self.source in ("hls", "file")
        self._last: dict[str, float] = {}
        self._delivered_this_session: set[str] = set()
        self._previous_pts: dict[str, float] = {}
        self._rng = random.Random()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()

    @property
    def position(self) -> PullPosition:
        """The media time of the last delivered video and audio frame."""
        return PullPosition(self._last.get("video"), self._last.get("audio"))

    @position.setter
    def position(self, value: PullPosition) -> None:
        """Restore a position (from a snapshot) before :meth:`run`; used by HLS and files."""
        self._last = {kind: pts for kind, pts in
                      (("video", value.video_pts), ("audio", value.audio_pts)) if pts is not None}

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Pull until ``stop`` is set: open, decode, and on failure back off and reopen.

        Blocks. Returns within about ``read_timeout_s`` of ``stop`` being set
        (a read waiting on a silent source is only interrupted by its timeout),
        or when a file has been read to its end, or after ``max_attempts``
        failed attempts in a row.
        """
        failures = 0
        final_error: str | None = None
        while not stop.is_set():
            delivered_before = self.stats.frames
            try:
                self._session(stop)
            except _SessionEnd as end:
                reason, opened = end.reason, end.opened
            except Exception as exc:  # a bug must not end the stream either: report, retry
                log.exception("stream %s: unexpected failure", self.stream_id)
                reason, opened = f"{self.url}: {type(exc).__name__}: {exc}", True
            else:  # stopped, or a file read to its end
                break
            if stop.is_set():
                break
            self.stats.errors += 1
            if opened:
                self.tap.status("dropped", error=reason,
                                meta={"frames": self.stats.frames - delivered_before})
            else:
                self.tap.status("error", error=reason)
            log.info("stream %s: %s", self.stream_id, reason)
            if self.stats.frames > delivered_before:
                failures = 0  # a connection that delivered frames restarts the schedule
            failures += 1
            if self.options.max_attempts is not None and failures >= self.options.max_attempts:
                final_error = f"{self.url}: gave up after {failures} failed attempts ({reason})"
                break
            delay = backoff_delay(failures, self.options, rng=self._rng)
            self.stats.reconnects += 1
            self.tap.status("reconnecting", error=reason,
                            meta={"attempt": failures, "backoff_s": round(delay, 3)})
            if stop.wait(delay):
                break
        self.tap.status("ended", error=final_error, meta={"frames": self.stats.frames})

    def _session(self, stop: threading.Event) -> None:
        """One connection: open, decode until stopped or it fails (raises :class:`_SessionEnd`)."""
        container = self._open()
        self._delivered_this_session = set()
        self._previous_pts = {}
        # A file, or a playlist with #EXT-X-ENDLIST, has a duration; a live source has none.
        finite = self.source == "file" or container.duration is not None
        try:
            streams = self._streams(container)
            self.stats.connects += 1
            self.tap.status("connected", meta=self._describe(container, streams))
            for kind, frame in self._frames(container, streams, stop):
                if stop.is_set():
                    return
                self._deliver(kind, frame)
        finally:
            container.close()
        if not stop.is_set() and not finite:
            # A live source that ends has lost its publisher.
            raise _SessionEnd(f"{self.url}: end of stream", opened=True)

    def _open(self) -> av.container.InputContainer:
        options = container_options(self.source, self.options)
        container = self._open_with(options)
        if self.options.video and not container.streams.video and _announces_video(container):
            # Joining a stream that is already live, the short probe can end before the
            # first video packet (the server waits for a keyframe), and PyAV never shows
            # a stream that appears after the open. Probe once more, for longer.
            container.close()
            self.stats.long_probes += 1
            longer = max(self.options.analyzeduration_us, self.options.rejoin_analyzeduration_us)
            container = self._open_with({**options, "analyzeduration": str(longer)})
        return container

    def _open_with(self, options: dict[str, str]) -> av.container.InputContainer:
        try:
            container = av.open(
                self.url, options=options,
                timeout=(self.options.open_timeout_s, self.options.read_timeout_s),
            )
        except Exception as exc:  # any failure to open is retried
            raise _SessionEnd(self._reason(exc, opening=True), opened=False) from exc
        if not isinstance(container, av.container.InputContainer):  # pragma: no cover
            container.close()
            raise _SessionEnd(f"{self.url}: not an input", opened=False)
        return container

    def _streams(self, container: av.container.InputContainer) -> list[Any]:
        chosen: list[Any] = []
        if self.options.video:
            chosen += container.streams.video[:1]
        if self.options.audio:
            chosen += container.streams.audio[:1]
        if not chosen:
            raise _SessionEnd(f"{self.url}: no audio or video stream", opened=False)
        return chosen

    def _frames(self, container: av.container.InputContainer, streams: list[Any],
                stop: threading.Event) -> Iterator[tuple[str, Any]]:
        """Yield ``(kind, frame)``, skipping undecodable packets; raise :class:`_SessionEnd`."""
        packets = container.demux(*streams)
        while not stop.is_set():
            try:
                packet = next(packets)
            except StopIteration:
                return
            except Exception as exc:  # the connection failed
                raise _SessionEnd(self._reason(exc, opening=False), opened=True) from exc
            kind = packet.stream.type
            try:
                frames = packet.decode()
            except Exception as exc:  # one bad packet must not end the stream
                self.stats.decode_errors += 1
                log.debug("stream %s: skipped an undecodable %s packet: %s",
                          self.stream_id, kind, exc)
                continue
            for frame in frames:
                yield kind, frame

    def _deliver(self, kind: str, frame: Any) -> None:
        pts = frame.time
        if pts is not None:
            if self._resumable and kind not in self._delivered_this_session:
                # Only the head of a session can repeat what an earlier session delivered.
                last = self._last.get(kind)
                if last is not None and last - self.options.resume_window_s <= pts <= last:
                    self.stats.skipped_frames += 1
                    return
            self._delivered_this_session.add(kind)
            self._last[kind] = float(pts)
            self._check_gap(kind, float(pts))
        try:
            if kind == "video":
                self.tap.video(frame)
            else:
                self.tap.audio(frame)
        except Exception:  # one frame the features cannot handle must not end the stream
            self.stats.feature_errors += 1
            if self.stats.feature_errors == 1 or self.stats.feature_errors % 1000 == 0:
                log.exception("stream %s: features failed on a %s frame (%d so far)",
                              self.stream_id, kind, self.stats.feature_errors)
            return
        if kind == "video":
            self.stats.video_frames += 1
        else:
            self.stats.audio_frames += 1
        self.stats.frames += 1

    def _check_gap(self, kind: str, pts: float) -> None:
        """Report media missing inside a connection (FFmpeg skips a truncated segment silently)."""
        previous = self._previous_pts.get(kind)
        self._previous_pts[kind] = pts
        threshold = self.options.gap_threshold_s
        if previous is None or threshold is None or pts - previous <= threshold:
            return
        self.stats.gaps += 1
        self.tap.status("error", error=(
            f"{self.url}: {pts - previous:.2f} s of {kind} missing after pts {previous:.3f} "
            "(lost or truncated data); reading on"),
            meta={"gap_s": round(pts - previous, 3), "after_pts": round(previous, 6),
                  "media": kind})

    def _describe(self, container: av.container.InputContainer,
                  streams: list[Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {"url": self.url, "format": container.format.name}
        for stream in streams:
            ctx = stream.codec_context
            if stream.type == "video":
                rate = stream.average_rate or stream.guessed_rate
                meta.update(video_codec=ctx.name, width=ctx.width, height=ctx.height,
                            fps=None if rate is None else round(float(rate), 3))
            else:
                meta.update(audio_codec=ctx.name, sample_rate=ctx.sample_rate,
                            channels=ctx.layout.nb_channels)
        return meta

    def _reason(self, exc: BaseException, *, opening: bool) -> str:
        """Give a clear one-line reason: the URL, then what went wrong."""
        if isinstance(exc, av.error.ExitError):  # PyAV's timeout interrupts the read
            if opening:
                return (f"{self.url}: no media within {self.options.open_timeout_s:g} s "
                        "(timed out; is anything published there?)")
            return f"{self.url}: no data for {self.options.read_timeout_s:g} s (timed out)"
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return f"{self.url}: {text}"

    # --- thread convenience ---------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run` on a daemon thread named after the stream."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._stop_event,),
                                        name=f"pull-{self.stream_id}", daemon=True)
        self._thread.start()

    @property
    def finished(self) -> bool:
        """Whether the thread started by :meth:`start` has ended.

        It ends when a file or playlist ran out, ``max_attempts`` failed, or :meth:`stop`
        was called.
        """
        return self._thread is not None and not self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to stop and wait up to ``timeout`` seconds.

        Returns
        -------
        bool
            ``True`` if the thread has ended; ``False`` if it is still waiting
            on a read (it ends by itself within ``read_timeout_s``).
        """
        self._stop_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()


__all__ = ["MediaPuller", "PullOptions", "PullPosition", "PullStats"]

"""A synthetic media stream from FFmpeg's lavfi sources: the demo's camera and microphone.

:func:`lavfi_graph` describes a test pattern and a tone with a stretch of
silence and a frozen ending; :class:`LavfiPlayer` decodes it with PyAV (no
service, no file) and hands every frame to a :class:`~midstream.connectors.media.features.FeatureTap`,
paced in real time, exactly as a live connector would.

Examples
--------
>>> records = []
>>> from midstream.connectors.media.features import FeatureTap
>>> tap = FeatureTap("synthetic-1", "lavfi", records.append)
>>> LavfiPlayer(lavfi_graph(seconds=1.0, moving_seconds=1.0, silence=None), tap,
...             speed=0).run(threading.Event())
>>> sorted({r.kind for r in records}), sum(r.kind == "video" for r in records)
(['audio', 'status', 'video'], 25)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import av

from midstream.connectors.media.features import FeatureTap


def lavfi_graph(*, seconds: float = 10.0, moving_seconds: float = 6.0,
                silence: tuple[float, float] | None = (2.0, 6.0), size: str = "320x240",
                rate: int = 25, tone_hz: float = 440.0, sample_rate: int = 48000) -> str:
    """Build a lavfi graph: ``testsrc`` moving for ``moving_seconds`` then frozen, and a tone.

    The tone is muted (digital silence) during ``silence`` = (start, end) seconds.

    Examples
    --------
    >>> lavfi_graph(seconds=2, moving_seconds=1, silence=None)[:58]
    'testsrc=size=320x240:rate=25:duration=1,tpad=stop_mode=clo'
    """
    video = f"testsrc=size={size}:rate={rate}:duration={moving_seconds:g}"
    frozen = seconds - moving_seconds
    if frozen > 0:
        video += f",tpad=stop_mode=clone:stop_duration={frozen:g}"
    audio = f"sine=frequency={tone_hz:g}:sample_rate={sample_rate}:duration={seconds:g}"
    if silence is not None:
        audio += f",volume=enable='between(t,{silence[0]:g},{silence[1]:g})':volume=0"
    return f"{video}[out0];{audio}[out1]"


class LavfiPlayer:
    """Decodes a lavfi graph and feeds a feature tap, one frame at a time.

    Parameters
    ----------
    graph
        A lavfi filter graph with outputs ``[out0]`` (video) and ``[out1]`` (audio).
    tap
        Where frames go.
    speed
        1.0 plays in real time (frames are handed over when their pts comes);
        0 plays as fast as it decodes.
    announce_end
        Emit ``ended`` at the end. Without it the stream just stops, like a
        publisher whose network went away.
    """

    def __init__(self, graph: str, tap: FeatureTap, *, speed: float = 1.0,
                 announce_end: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.graph = graph
        self.tap = tap
        self.speed = speed
        self.announce_end = announce_end
        self.clock = clock
        self.done = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Play the whole graph, or until ``stop`` is set; then emit ``ended``."""
        try:
            with av.open(self.graph, format="lavfi") as container:
                streams = container.streams
                self.tap.status("connected", meta={
                    "graph": self.graph,
                    "streams": [s.type for s in streams]})
                started = self.clock()
                for frame in container.decode(*streams):
                    if stop.is_set():
                        break
                    if self.speed > 0 and frame.time is not None:
                        delay = started + frame.time / self.speed - self.clock()
                        if delay > 0 and stop.wait(delay):
                            break
                    if isinstance(frame, av.VideoFrame):
                        self.tap.video(frame)
                    elif isinstance(frame, av.AudioFrame):
                        self.tap.audio(frame)
        except av.FFmpegError as exc:
            self.tap.status("error", error=f"lavfi graph failed: {exc}")
        finally:
            if self.announce_end:
                self.tap.status("ended")
            self.done.set()

    def start(self) -> None:
        """Play on a daemon thread."""
        self._thread = threading.Thread(target=self.run, args=(self._stop,),
                                        name=f"lavfi-{self.tap.stream_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop playing and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

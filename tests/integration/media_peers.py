"""Test peers for media ingest: an ffmpeg publisher of lavfi test patterns, stopped by PID.

The default pattern has known sections, so tests can check features against
media time: moving ``testsrc`` video for :data:`MOVING_S` seconds, then the
last frame frozen; a 440 Hz tone with silence from :data:`SILENT_FROM_S` to
:data:`SILENT_TO_S` seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from midstream.core.media_events import MediaRecord

MOVING_S = 4.0
"""The video moves (``testsrc``) for this many seconds, then freezes on its last frame."""
SILENT_FROM_S, SILENT_TO_S = 3.0, 6.0
"""The tone is muted between these media times."""
FPS = 25
SAMPLE_RATE = 48000


def fresh_name(prefix: str = "t") -> str:
    """A stream name never used before (nginx-rtmp keeps stale playlists of old names)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def find_ffmpeg() -> str | None:
    """Path of ``ffmpeg``, or ``None`` if it is not installed."""
    return shutil.which("ffmpeg")


def sections_video(duration: float) -> str:
    """Lavfi graph: ``testsrc`` moving for :data:`MOVING_S` s, then frozen until ``duration``."""
    frozen = max(0.0, duration - MOVING_S)
    return (f"testsrc=size=320x240:rate={FPS},trim=duration={MOVING_S:g},"
            f"tpad=stop_mode=clone:stop_duration={frozen:g}")


def sections_audio(duration: float) -> str:
    """Lavfi graph: a 440 Hz tone, muted between :data:`SILENT_FROM_S` and :data:`SILENT_TO_S`."""
    return (f"sine=frequency=440:sample_rate={SAMPLE_RATE}:duration={duration:g},"
            f"volume=enable='between(t,{SILENT_FROM_S:g},{SILENT_TO_S:g})':volume=0")


@dataclass
class Publisher:
    """An ffmpeg process publishing to ``url``; stop it with :func:`stop_publisher`."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def start_publisher(url: str, log_dir: Path, *, video: str | None = None,
                    audio: str | None = None, duration: float = 9.0,
                    output_format: str = "flv", extra: tuple[str, ...] = ()) -> Publisher:
    """Start ffmpeg publishing lavfi ``video`` and ``audio`` graphs in real time (``-re``).

    Parameters
    ----------
    url
        Where to publish, e.g. ``rtmp://127.0.0.1:<port>/live/<name>``.
    log_dir
        Directory for ffmpeg's log.
    video, audio
        Lavfi graphs; by default the sectioned patterns of this module.
    duration
        Seconds of media to publish (``-t``); ffmpeg exits afterwards.
    output_format
        ffmpeg's ``-f`` for the output.
    extra
        More output options, placed before the URL.
    """
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not installed")
    video = video or sections_video(duration)
    audio = audio or sections_audio(duration)
    log_path = log_dir / f"ffmpeg-{uuid.uuid4().hex[:8]}.log"
    argv = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning",
        "-re", "-f", "lavfi", "-i", video,
        "-re", "-f", "lavfi", "-i", audio,
        "-t", f"{duration:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", str(FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k",
        *extra, "-f", output_format, url,
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
    return Publisher(process, url, log_path)


def stop_publisher(publisher: Publisher, *, timeout: float = 5.0) -> None:
    """Stop the publisher by its PID (SIGTERM, then SIGKILL) and reap it. Safe to call twice."""
    process = publisher.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


# --- reading records -------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def statuses(records: list[MediaRecord]) -> list[str | None]:
    return [r.status for r in list(records) if r.kind == "status"]


def of_kind(records: list[MediaRecord], kind: str, start: float = -1e9,
            end: float = 1e9) -> list[MediaRecord]:
    return [r for r in list(records)
            if r.kind == kind and r.pts is not None and start <= r.pts < end]


def fraction(values: list[bool | None]) -> float:
    return sum(bool(v) for v in values) / max(1, len(values))


def mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / max(1, len(present))

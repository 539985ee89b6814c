"""A speech-to-text hook on faster-whisper, for a model you have on disk (``transcribe`` extra).

``pip install 'midstream[transcribe]'`` brings faster-whisper; the model is a
CTranslate2 Whisper model directory you provide (for example one converted
with ``ct2-transformers-converter``, or a faster-whisper model downloaded
where you have network). MidStream never downloads one: the hook refuses a
path that is not a model directory.

The hook collects a stream's audio, resampled to Whisper's 16 kHz, and every
``chunk_seconds`` of media time hands the chunk to a single worker thread, so
the decode thread never waits for the model. Finished transcripts come back
as ``transcript`` labels (text, the chunk's media time, the mean token
log-probability as ``score``) on the hook's next call.

Without the extra or the model, constructing the hook raises
:class:`WhisperUnavailable` with what is missing.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import numpy as np

from midstream.connectors.media.exceptions import WhisperUnavailable
from midstream.connectors.media.hooks import Label

WHISPER_RATE = 16000


def resample(samples: np.ndarray, rate: int, target: int = WHISPER_RATE) -> np.ndarray:
    """Linear resampling of mono float32 audio (enough for speech recognition input).

    Examples
    --------
    >>> resample(np.ones(480, np.float32), 48000).shape
    (160,)
    """
    if rate == target:
        return samples.astype(np.float32, copy=False)
    count = round(samples.shape[0] * target / rate)
    positions = np.arange(count) * (rate / target)
    return np.interp(positions, np.arange(samples.shape[0]), samples).astype(np.float32)


class WhisperTranscriber:
    """Per-stream transcription with a local faster-whisper model (an audio hook).

    Parameters
    ----------
    model_dir
        A CTranslate2 Whisper model directory (it holds ``model.bin``).
    language
        Language code, or None to let the model detect it.
    chunk_seconds
        Media seconds of audio per transcription.
    compute_type
        CTranslate2 compute type; ``int8`` runs well on a CPU.
    """

    name = "whisper"

    def __init__(self, model_dir: str | Path, *, language: str | None = None,
                 chunk_seconds: float = 5.0, compute_type: str = "int8") -> None:
        path = Path(model_dir)
        if not (path / "model.bin").is_file():
            raise WhisperUnavailable(f"{path} is not a CTranslate2 Whisper model directory "
                                     "(no model.bin); MidStream does not download models")
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise WhisperUnavailable(
                "faster-whisper is not installed: pip install 'midstream[transcribe]'") from exc
        self.model = WhisperModel(str(path), device="cpu", compute_type=compute_type)
        self.language = language
        self.chunk_seconds = chunk_seconds
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                           thread_name_prefix="whisper")
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._chunk_pts: float | None = None
        self._running: list[tuple[float, concurrent.futures.Future[list[Any]]]] = []

    def on_audio(self, pts: float, samples: np.ndarray, sample_rate: int) -> list[Label]:
        """Buffer audio; submit full chunks; return transcripts that have finished."""
        if self._chunk_pts is None:
            self._chunk_pts = pts
        chunk = resample(samples, sample_rate)
        self._buffer.append(chunk)
        self._buffered += chunk.shape[0]
        if self._buffered >= self.chunk_seconds * WHISPER_RATE:
            audio = np.concatenate(self._buffer)
            self._running.append((self._chunk_pts, self._pool.submit(self._transcribe, audio)))
            self._buffer, self._buffered, self._chunk_pts = [], 0, None
        return self._finished()

    def _transcribe(self, audio: np.ndarray) -> list[Any]:
        segments, _info = self.model.transcribe(audio, language=self.language, vad_filter=False)
        return list(segments)

    def _finished(self) -> list[Label]:
        labels: list[Label] = []
        while self._running and self._running[0][1].done():
            chunk_pts, future = self._running.pop(0)
            segments = future.result()
            text = " ".join(s.text.strip() for s in segments).strip()
            if text:
                score = float(np.mean([s.avg_logprob for s in segments]))
                labels.append(Label("transcript", pts=chunk_pts + segments[0].start, text=text,
                                    score=round(score, 3),
                                    meta={"segments": len(segments)}))
        return labels

    def close(self) -> None:
        """Stop the worker (pending chunks are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

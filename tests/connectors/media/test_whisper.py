"""The faster-whisper hook: refuses clearly without its model; transcribes with one.

A Whisper model cannot be fetched on these machines, so the transcription test
runs only where ``MIDSTREAM_WHISPER_MODEL`` names a model directory and
``espeak-ng`` can speak the test sentence; the interface itself is exercised
by the DTMF and moving-object hooks in ``test_hooks.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from midstream.connectors.media.whisper import WhisperTranscriber, WhisperUnavailable, resample


def test_a_directory_without_a_model_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(WhisperUnavailable, match=r"no model\.bin"):
        WhisperTranscriber(tmp_path)


def test_resampling_keeps_a_tone_at_its_frequency() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    out = resample(np.sin(2 * np.pi * 300 * t).astype(np.float32), rate)
    spectrum = np.abs(np.fft.rfft(out))
    assert out.shape == (16000,) and np.argmax(spectrum) == 300


@pytest.mark.skipif(not os.environ.get("MIDSTREAM_WHISPER_MODEL") or not shutil.which("espeak-ng"),
                    reason="needs MIDSTREAM_WHISPER_MODEL (a local model directory) and espeak-ng")
def test_transcribes_spoken_words(tmp_path: Path) -> None:  # pragma: no cover - optional
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "stop the stream now"], check=True)
    import av

    with av.open(str(wav)) as container:
        frames = [f for f in container.decode(audio=0)]
    hook = WhisperTranscriber(os.environ["MIDSTREAM_WHISPER_MODEL"], chunk_seconds=1.0)
    labels = []
    for frame in frames:
        labels += hook.on_audio(float(frame.time or 0), frame.to_ndarray()[0].astype(np.float32)
                                / 32768.0, frame.sample_rate)
    hook.close()
    assert labels and "stream" in " ".join(label.text or "" for label in labels).lower()

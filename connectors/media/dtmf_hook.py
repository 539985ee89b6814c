"""A transcription hook for touch-tone audio: the keys dialled on a call, as text.

Every key press becomes a ``digit`` label at the media time it started; after
``pause_seconds`` without a key, the digits since the last pause become one
``transcript`` label (``"5551234"``), which is what an IVR or a voice agent
acts on. The decoding is :class:`midstream.operators.dtmf.DtmfDecoder`.

Examples
--------
>>> import numpy as np
>>> from midstream.operators.dtmf import HIGH_HZ, LOW_HZ
>>> rate = 48000
>>> t = np.arange(int(0.1 * rate)) / rate
>>> five = (0.25 * (np.sin(2 * np.pi * LOW_HZ[1] * t) + np.sin(2 * np.pi * HIGH_HZ[1] * t))
...         ).astype(np.float32)
>>> hook = DtmfTranscriber(pause_seconds=0.5)
>>> labels = list(hook.on_audio(10.0, five, rate))
>>> labels += hook.on_audio(10.1, np.zeros(rate, np.float32), rate)
>>> [(l.label, l.text, round(l.pts, 2)) for l in labels]
[('digit', '5', 10.0), ('transcript', '5', 10.0)]
"""

from __future__ import annotations

import numpy as np

from midstream.connectors.media.hooks import Label
from midstream.operators.dtmf import DtmfDecoder


class DtmfTranscriber:
    """Per-stream DTMF transcription (an audio hook).

    Parameters
    ----------
    pause_seconds
        Media time without a key that closes a transcript.
    """

    name = "dtmf"

    def __init__(self, *, pause_seconds: float = 1.0) -> None:
        self.pause_seconds = pause_seconds
        self._decoder: DtmfDecoder | None = None
        self._seen = 0
        self._digits = ""
        self._first_pts = 0.0
        self._last_pts = 0.0

    def on_audio(self, pts: float, samples: np.ndarray, sample_rate: int) -> list[Label]:
        """Decode one frame's samples; return digits and, after a pause, the transcript."""
        if self._decoder is None or self._decoder.sample_rate != sample_rate:
            self._decoder = DtmfDecoder(sample_rate)
            self._seen = 0
        origin = pts - self._seen / sample_rate  # media time of the decoder's sample 0
        self._seen += samples.shape[0]
        labels: list[Label] = []
        for start, digit in self._decoder.update(samples):
            at = origin + start
            if not self._digits:
                self._first_pts = at
            self._digits += digit
            self._last_pts = at
            labels.append(Label("digit", pts=at, text=digit, score=1.0))
        now = origin + self._seen / sample_rate
        if self._digits and now - self._last_pts >= self.pause_seconds:
            labels.append(Label("transcript", pts=self._first_pts, text=self._digits,
                                meta={"digits": len(self._digits)}))
            self._digits = ""
        return labels

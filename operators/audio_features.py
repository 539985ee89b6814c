"""Per-window audio features of a mono stream: level in dBFS, clipping, and an energy VAD.

The stream is cut into fixed windows (20 ms by default) counted from the first
sample ever given, whatever the size of the frames it arrives in (1024 samples
per AAC frame and 960 per 20 ms Opus frame at 48 kHz do not line up with the
windows): a partial window is carried from one :meth:`AudioFeatureExtractor.update`
to the next as a running sum, so any chunking of the same samples gives the same
windows, bit for bit.

Level is the RMS in dBFS with a full-scale square wave at 0 dBFS, so a
full-scale sine reads -3.01 dBFS (the plain ``20 log10(rms)`` convention, not
AES17's, which adds 3.01 dB for sines). Digital silence reads
:data:`SILENCE_DBFS` (-120 dBFS) rather than -inf.

Voice activity is the classic energy detector with an adaptive noise floor
(the background-energy tracking of ITU-T G.729 Annex B, and Sakhnov,
Verteletskaya and Šimák, "Dynamical energy-based speech/silence detector for
speech enhancement applications", WCE 2009), simplified to three rules:

- a window is *energetic* when its level exceeds the noise floor (as it stood
  before the window) by ``margin_db`` and also exceeds ``min_voice_dbfs``;
- the floor follows each window's level by exponential smoothing in dB,
  asymmetrically: down with a time constant of :data:`FLOOR_FALL_SECONDS`
  (40 ms: the floor reaches a quieter background within a few windows, so it
  finds the pauses between words) and up with :data:`FLOOR_RISE_SECONDS` (6 s:
  a louder background is learnt in seconds, while speech, whose pauses pull the
  floor back down, does not become the floor);
- a window is *voice* when it is energetic or follows an energetic one by at
  most ``hangover_windows`` windows (the hangover keeps word endings and short
  gaps inside an utterance).

The floor starts at ``min_voice_dbfs - margin_db`` (-59 dBFS by default, a quiet
room), so a stream that opens with speech is detected at once, and falls to a
quieter background within a few windows.

An energy detector cannot tell a tone from speech: a steady tone is voice. With
the rise time constant ``tau`` = 6 s the floor under a steady level ``G`` dB
above it gets within the margin after ``tau * ln(G / margin_db)``: a tone at
-13 dBFS (a sine of peak -10 dBFS) stays voice for about 15 s after digital
silence and 10 s after a -60 dBFS background; a background that steps up by
20 dB to above ``min_voice_dbfs`` reads as voice for about 5 s.

Examples
--------
>>> import numpy as np
>>> rate = 48_000
>>> t = np.arange(rate) / rate
>>> tone = 10 ** (-10 / 20) * np.sin(2 * np.pi * 440 * t)      # peak -10 dBFS
>>> audio = np.concatenate([np.zeros(rate), tone])              # 1 s silence, 1 s tone
>>> features = AudioFeatureExtractor(rate)
>>> windows = [w for i in range(0, audio.size, 1024) for w in features.update(audio[i:i + 1024])]
>>> len(windows), windows[0].rms_dbfs, windows[0].voice
(100, -120.0, False)
>>> onset = windows[50]                                         # the tone's first window
>>> onset.start, round(onset.rms_dbfs, 1), onset.voice, round(onset.noise_floor_dbfs)
(1.0, -13.0, True, -120)
>>> sum(w.voice for w in windows[:50]), sum(w.voice for w in windows[50:])
(0, 50)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

SILENCE_DBFS = -120.0
"""The level reported for digital silence (and anything quieter), instead of -inf."""

FLOOR_FALL_SECONDS = 0.04
"""Time constant of the noise floor's exponential smoothing (in dB) towards a lower level."""

FLOOR_RISE_SECONDS = 6.0
"""Time constant of the noise floor's exponential smoothing (in dB) towards a higher level."""

_INT16_SCALE = 1.0 / 32768.0
# Layout of the state vector the kernel owns (floats, so one array pickles it all).
_PENDING, _SUM_SQ, _CLIPPED, _FLOOR, _HANG = range(5)


class AudioWindow(NamedTuple):
    """The features of one window of audio."""

    start: float
    """Offset of the window's first sample, in seconds since the first sample ever given."""
    rms_dbfs: float
    """RMS level in dBFS (full-scale sine: -3.01); :data:`SILENCE_DBFS` at the quietest."""
    voice: bool
    """The energy VAD's decision for this window (hangover included)."""
    clipped: float
    """Fraction of the window's samples with ``|x| >= clip_level``."""
    noise_floor_dbfs: float
    """The adaptive noise-floor estimate after this window, in dBFS."""


class AudioFeatureExtractor:
    """Level, clipping and voice activity of a mono stream, one :class:`AudioWindow` per window.

    Parameters
    ----------
    sample_rate
        Samples per second of the stream.
    window_ms
        Window length in milliseconds; the window is ``round(sample_rate * window_ms / 1000)``
        samples (960 at 48 kHz, 320 at 16 kHz for the default 20 ms).
    margin_db
        How far above the noise floor a window must be to count as energetic.
    min_voice_dbfs
        An energetic window must also be louder than this, so a quiet background
        (hiss, hum, a silent microphone's noise) is never voice, however low the floor.
    hangover_windows
        Windows that stay voice after the last energetic one.
    clip_level
        Samples with ``|x|`` at or above this count as clipped.

    Examples
    --------
    >>> import numpy as np
    >>> features = AudioFeatureExtractor(16_000)
    >>> [(w.start, w.rms_dbfs, w.voice) for w in features.update(np.zeros(500, np.int16))]
    [(0.0, -120.0, False)]
    >>> features.pending_samples                   # 320-sample windows: 180 samples carried
    180
    >>> loud = features.update(np.full(500, 0.5))  # completes that window, then one more
    >>> [(w.start, round(w.rms_dbfs, 1), w.voice) for w in loud]
    [(0.02, -9.6, True), (0.04, -6.0, True)]
    >>> [(w.start, round(w.rms_dbfs, 1)) for w in features.flush()]   # the last 40 samples
    [(0.06, -6.0)]
    """

    def __init__(self, sample_rate: int, *, window_ms: float = 20.0, margin_db: float = 9.0,
                 min_voice_dbfs: float = -50.0, hangover_windows: int = 4,
                 clip_level: float = 0.999) -> None:
        if not (isinstance(sample_rate, int | np.integer) and sample_rate > 0):
            raise ValueError(f"sample_rate must be an int > 0, got {sample_rate!r}")
        if not (window_ms > 0 and math.isfinite(window_ms)):
            raise ValueError(f"window_ms must be a finite number > 0, got {window_ms!r}")
        window_len = round(sample_rate * window_ms / 1000.0)
        if window_len < 1:
            raise ValueError(f"window_ms={window_ms} is shorter than one sample at "
                             f"{sample_rate} Hz")
        if not (margin_db >= 0 and math.isfinite(margin_db)):
            raise ValueError(f"margin_db must be a finite number >= 0, got {margin_db!r}")
        if not math.isfinite(min_voice_dbfs):
            raise ValueError(f"min_voice_dbfs must be a finite number, got {min_voice_dbfs!r}")
        if not (isinstance(hangover_windows, int | np.integer) and hangover_windows >= 0):
            raise ValueError(f"hangover_windows must be an int >= 0, got {hangover_windows!r}")
        if not 0 < clip_level <= 1:
            raise ValueError(f"clip_level must be in (0, 1], got {clip_level!r}")
        self.sample_rate = int(sample_rate)
        self.window_ms = window_ms
        self.margin_db = margin_db
        self.min_voice_dbfs = min_voice_dbfs
        self.hangover_windows = int(hangover_windows)
        self.clip_level = clip_level
        self.window_len = int(window_len)
        window_seconds = self.window_len / self.sample_rate
        self._params = np.array([
            self.window_len, margin_db, min_voice_dbfs, self.hangover_windows, clip_level,
            -math.expm1(-window_seconds / FLOOR_FALL_SECONDS),
            -math.expm1(-window_seconds / FLOOR_RISE_SECONDS),
        ], dtype=np.float64)
        self._state = np.zeros(5)
        self._state[_FLOOR] = min_voice_dbfs - margin_db
        self._windows_done = 0   # samples before the pending window = windows_done * window_len
        self._flushed_samples = 0  # extra samples from partial windows emitted by flush()

    def update(self, samples: np.ndarray) -> list[AudioWindow]:
        """Add a frame of samples; return the windows it completes, in order.

        ``samples`` is 1-d mono: floating point in [-1, 1], or int16 (scaled by 1/32768).
        """
        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"samples must be 1-d mono, got shape {x.shape}")
        # The kernel is compiled for one type, a writable C-contiguous float64 array.
        if x.dtype == np.int16:
            x = x * _INT16_SCALE
        elif x.dtype == np.float64:
            if not (x.flags.c_contiguous and x.flags.writeable):
                x = x.copy()
        elif x.dtype.kind == "f":
            x = x.astype(np.float64)
        else:
            raise ValueError(f"samples must be float32/float64 or int16, got {x.dtype}")
        out = np.empty(((int(self._state[_PENDING]) + x.shape[0]) // self.window_len, 4))
        written = _audio_windows(x, self._params, self._state, out, False)
        if written < 0:
            raise ValueError("samples must be finite (no NaN or inf)")
        return self._windows(out)

    def flush(self) -> list[AudioWindow]:
        """Emit the pending partial window, if any (at the end of a stream).

        Its level and clipping are over the samples it has; it goes through the
        VAD like any window. A later :meth:`update` starts a new window after it.
        """
        pending = int(self._state[_PENDING])
        if pending == 0:
            return []
        out = np.empty((1, 4))
        _audio_windows(np.empty(0), self._params, self._state, out, True)
        found = self._windows(out)
        self._flushed_samples += pending - self.window_len   # _windows counted a full one
        return found

    def _windows(self, out: np.ndarray) -> list[AudioWindow]:
        first = self._windows_done * self.window_len + self._flushed_samples
        self._windows_done += out.shape[0]
        rate, step = self.sample_rate, self.window_len
        return [AudioWindow((first + k * step) / rate, level, voice != 0.0, clipped, floor)
                for k, (level, voice, clipped, floor) in enumerate(out.tolist())]

    @property
    def window_seconds(self) -> float:
        """The exact length of a (complete) window in seconds: ``window_len / sample_rate``.

        It differs from ``window_ms / 1000`` when that is not a whole number of samples.
        """
        return self.window_len / self.sample_rate

    @property
    def noise_floor_dbfs(self) -> float:
        """The current noise-floor estimate, in dBFS."""
        return float(self._state[_FLOOR])

    @property
    def pending_samples(self) -> int:
        """Samples given but not yet in an emitted window."""
        return int(self._state[_PENDING])


@numba.njit(cache=True)
def _audio_windows(x: np.ndarray, params: np.ndarray, state: np.ndarray, out: np.ndarray,
                   flush: bool) -> int:
    """Add ``x`` to the pending window; write each window completed to ``out``.

    Each row of ``out`` is ``(level, voice, clipped, floor)`` of a completed window (or of
    the partial one, with ``flush``). Returns how many, or -1 (state untouched) when ``x``
    is not finite.
    """
    for i in range(x.shape[0]):
        if not math.isfinite(x[i]):
            return -1
    window_len = int(params[0])
    margin, min_voice, hangover, clip_level = params[1], params[2], params[3], params[4]
    fall, rise = params[5], params[6]
    pending, sum_sq, clipped = int(state[0]), state[1], state[2]
    floor, hang = state[3], state[4]
    written = 0
    i = 0
    n = x.shape[0]
    while True:
        take = min(window_len - pending, n - i)
        for j in range(i, i + take):
            v = x[j]
            sum_sq += v * v
            if abs(v) >= clip_level:
                clipped += 1.0
        i += take
        pending += take
        if pending < window_len and not (flush and pending > 0):
            break
        mean_sq = sum_sq / pending
        level = 10.0 * math.log10(mean_sq) if mean_sq > 0.0 else -math.inf
        level = max(level, SILENCE_DBFS)
        if level > floor + margin and level > min_voice:
            voice = 1.0
            hang = hangover
        elif hang > 0:
            voice = 1.0
            hang -= 1
        else:
            voice = 0.0
        floor += (fall if level < floor else rise) * (level - floor)
        out[written, 0] = level
        out[written, 1] = voice
        out[written, 2] = clipped / pending
        out[written, 3] = floor
        written += 1
        pending, sum_sq, clipped = 0, 0.0, 0.0
        if flush:
            break
    state[0], state[1], state[2], state[3], state[4] = pending, sum_sq, clipped, floor, hang
    return written

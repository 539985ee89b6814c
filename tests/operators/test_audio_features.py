"""Tests for operators/audio_features.py: levels against the definition, the VAD against a
plain transcription of its rules, and windows independent of how the samples are chunked."""

from __future__ import annotations

import math
import pickle
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.audio_features import (
    FLOOR_FALL_SECONDS,
    FLOOR_RISE_SECONDS,
    SILENCE_DBFS,
    AudioFeatureExtractor,
    AudioWindow,
)

RATE = 48_000
WINDOW = 960  # 20 ms at 48 kHz


def sine(seconds: float, freq: float, peak: float, rate: int = RATE) -> np.ndarray:
    return peak * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)


def noise(seconds: float, rms_dbfs: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(round(seconds * rate))
    return 10 ** (rms_dbfs / 20) * white


def feed(features: AudioFeatureExtractor, x: np.ndarray, frame: int = 1024) -> list[AudioWindow]:
    return [w for i in range(0, x.shape[0], frame) for w in features.update(x[i:i + frame])]


def reference_windows(x: np.ndarray, rate: int = RATE, window_ms: float = 20.0,
                      margin_db: float = 9.0, min_voice_dbfs: float = -50.0,
                      hangover_windows: int = 4, clip_level: float = 0.999,
                      ) -> list[tuple[float, float, bool, float, float]]:
    """The documented rules, transcribed plainly: one NumPy RMS per window, a Python loop."""
    n = round(rate * window_ms / 1000)
    seconds = n / rate
    fall = 1 - math.exp(-seconds / FLOOR_FALL_SECONDS)
    rise = 1 - math.exp(-seconds / FLOOR_RISE_SECONDS)
    floor, hang, out = min_voice_dbfs - margin_db, 0, []
    for k in range(x.shape[0] // n):
        w = x[k * n:(k + 1) * n]
        rms = math.sqrt(float(np.mean(w ** 2)))
        level = max(20 * math.log10(rms), SILENCE_DBFS) if rms > 0 else SILENCE_DBFS
        if level > floor + margin_db and level > min_voice_dbfs:
            voice, hang = True, hangover_windows
        elif hang > 0:
            voice, hang = True, hang - 1
        else:
            voice = False
        floor += (fall if level < floor else rise) * (level - floor)
        out.append((k * n / rate, level, voice, float(np.mean(np.abs(w) >= clip_level)), floor))
    return out


# --- levels -----------------------------------------------------------------------------

def test_full_scale_sine_is_minus_3_01_dbfs():
    # 1 kHz at 48 kHz: exactly 20 periods per window, so every window reads the same.
    windows = AudioFeatureExtractor(RATE).update(sine(1.0, 1000, 1.0))
    assert len(windows) == 50
    for w in windows:
        assert w.rms_dbfs == pytest.approx(-3.0103, abs=0.01)
        assert w.clipped == pytest.approx(2 / 48)  # the two peak samples of each period


def test_a_minus_20_dbfs_sine_and_a_440_hz_tone():
    twenty = AudioFeatureExtractor(RATE).update(sine(0.5, 1000, math.sqrt(2) * 0.1))
    assert all(w.rms_dbfs == pytest.approx(-20.0, abs=0.01) for w in twenty)
    # 440 Hz does not fit a 20 ms window a whole number of times: within 0.1 dB.
    tone = AudioFeatureExtractor(RATE).update(sine(1.0, 440, 10 ** (-10 / 20)))
    assert all(w.rms_dbfs == pytest.approx(-13.0103, abs=0.1) for w in tone)
    assert all(w.clipped == 0.0 for w in tone)


@pytest.mark.parametrize("rate", [8_000, 16_000, 44_100, 48_000])
def test_level_is_the_rms_of_each_window_in_db(rate):
    x = noise(0.5, -30, seed=rate, rate=rate) * np.linspace(0.1, 2, round(0.5 * rate))
    features = AudioFeatureExtractor(rate)
    got = features.update(x)
    assert features.window_seconds == 0.02
    expected = reference_windows(x, rate=rate)
    assert len(got) == len(expected) == (x.shape[0] // round(rate * 0.02))
    assert [w.start for w in got] == [e[0] for e in expected]
    assert [w.rms_dbfs for w in got] == pytest.approx([e[1] for e in expected], abs=1e-9)


def test_digital_silence_reads_the_floor_level_never_minus_inf():
    windows = AudioFeatureExtractor(RATE).update(np.zeros(RATE))
    assert {w.rms_dbfs for w in windows} == {SILENCE_DBFS}
    tiny = AudioFeatureExtractor(RATE).update(np.full(WINDOW, 1e-7))  # -140 dBFS
    assert tiny[0].rms_dbfs == SILENCE_DBFS
    assert all(math.isfinite(w.noise_floor_dbfs) for w in windows)


def test_clipped_fraction_of_a_clipped_sine():
    # A sine of peak 2 clipped to [-1, 1]: |2 sin| >= 1 for 2/3 of each period (997 Hz, so
    # the samples fall at all phases rather than at the same 48).
    x = np.clip(sine(0.2, 997, 2.0), -1.0, 1.0)
    windows = AudioFeatureExtractor(RATE).update(x)
    for k, w in enumerate(windows):
        block = x[k * WINDOW:(k + 1) * WINDOW]
        assert w.clipped == np.mean(np.abs(block) >= 0.999)
        assert w.clipped == pytest.approx(2 / 3, abs=0.01)
    lower = AudioFeatureExtractor(RATE, clip_level=0.5).update(sine(0.02, 997, 1.0))
    assert lower[0].clipped == pytest.approx(2 / 3, abs=0.01)
    at_the_level = np.array([0.5, -0.5, 0.4999, -0.4999])
    assert AudioFeatureExtractor(200, clip_level=0.5).update(at_the_level)[0].clipped == 0.5


# --- voice activity -------------------------------------------------------------------------

def test_tone_after_silence_is_voice_at_once_and_ends_after_the_hangover():
    x = np.concatenate([np.zeros(RATE), sine(2.0, 440, 10 ** (-10 / 20)), noise(1.0, -60)])
    windows = feed(AudioFeatureExtractor(RATE), x)
    voice = [w.voice for w in windows]
    assert voice[:50] == [False] * 50              # 1 s of digital silence
    assert voice[50:150] == [True] * 100           # the tone, from its first window
    assert voice[150:154] == [True] * 4            # hangover: 4 windows after the tone
    assert voice[154:] == [False] * 46             # -60 dBFS noise
    assert windows[50].start == 1.0 and windows[154].start == pytest.approx(3.08)


@pytest.mark.parametrize("hangover", [0, 1, 7])
def test_hangover_length(hangover):
    x = np.concatenate([np.zeros(RATE // 2), sine(0.5, 1000, 0.3), np.zeros(RATE // 2)])
    windows = AudioFeatureExtractor(RATE, hangover_windows=hangover).update(x)
    assert sum(w.voice for w in windows) == 25 + hangover


@pytest.mark.parametrize("background", [None, -60.0, -75.0])
def test_silence_and_quiet_noise_are_never_voice(background):
    x = np.zeros(3 * RATE) if background is None else noise(3.0, background, seed=7)
    windows = feed(AudioFeatureExtractor(RATE), x, frame=960)
    assert not any(w.voice for w in windows)


def test_gaps_between_words_shorter_than_the_hangover_are_bridged():
    # "Words": 200 ms bursts with 60 ms gaps, over a -65 dBFS background.
    word, gap = sine(0.2, 300, 0.2), np.zeros(round(0.06 * RATE))
    x = np.concatenate([np.zeros(RATE // 2)] + [word, gap] * 6) + noise(0.5 + 6 * 0.26, -65)
    windows = AudioFeatureExtractor(RATE).update(x)
    voice = [w.voice for w in windows]
    assert not any(voice[:25])
    assert all(voice[25:25 + 6 * 13 - 3])   # the last gap's 3 windows are within the hangover


def test_a_steady_tone_stays_voice_for_the_documented_time():
    # tau * ln(gap / margin): about 10 s after a -60 dBFS background, 15 s after silence.
    tone = sine(12.0, 440, 10 ** (-10 / 20))
    for before, lasts in [(noise(1.0, -60), 6.0 * math.log(47 / 9)),
                          (np.zeros(RATE), 6.0 * math.log(107 / 9))]:
        windows = AudioFeatureExtractor(RATE).update(np.concatenate([before, tone]))
        voice = [w.voice for w in windows[50:]]
        on = voice.index(False) * 0.02 if False in voice else 12.0
        assert on == pytest.approx(min(lasts, 12.0), abs=0.3)


def test_the_floor_learns_a_louder_background_in_seconds_and_a_quieter_one_at_once():
    x = np.concatenate([noise(2.0, -60, seed=1), noise(10.0, -35, seed=2), noise(2.0, -70, 3)])
    windows = AudioFeatureExtractor(RATE).update(x)
    step = [w.voice for w in windows[100:600]]
    assert step[0]                                  # a 25 dB step up looks like voice at first,
    settled = step.index(False) * 0.02              # until the floor has risen within the margin
    assert settled == pytest.approx(6.0 * math.log(25 / 9), abs=0.5)
    assert not any(step[step.index(False) + 10:])
    # Exponential in dB: 25 * exp(-10 s / 6 s) = 4.7 dB still to go after 10 s.
    assert windows[599].noise_floor_dbfs == pytest.approx(-35 - 25 * math.exp(-10 / 6), abs=0.5)
    # Down: within 3 dB of the quieter background after 5 windows (100 ms).
    assert windows[605].noise_floor_dbfs == pytest.approx(-70, abs=3)


@settings(max_examples=60, deadline=None)
@given(levels=st.lists(st.sampled_from([None, -80.0, -60.0, -45.0, -30.0, -12.0]),
                       min_size=1, max_size=12),
       lengths=st.lists(st.integers(1, 40), min_size=12, max_size=12),
       margin=st.sampled_from([3.0, 9.0, 15.0]), hangover=st.integers(0, 6))
def test_the_kernel_follows_the_documented_rules_window_for_window(levels, lengths, margin,
                                                                   hangover):
    parts = [np.zeros(n * 480) if level is None else noise(n * 0.01, level, seed=n)
             for level, n in zip(levels, lengths, strict=False)]
    x = np.concatenate(parts)
    got = AudioFeatureExtractor(RATE, margin_db=margin, hangover_windows=hangover).update(x)
    expected = reference_windows(x, margin_db=margin, hangover_windows=hangover)
    assert len(got) == len(expected)
    for w, (start, level, voice, clipped, floor) in zip(got, expected, strict=True):
        assert w.start == start and w.voice == voice and w.clipped == clipped
        assert w.rms_dbfs == pytest.approx(level, abs=1e-9)
        assert w.noise_floor_dbfs == pytest.approx(floor, abs=1e-9)


# --- framing, inputs, state -------------------------------------------------------------------

def speechlike(seconds: float = 1.5) -> np.ndarray:
    x = noise(seconds, -55, seed=3)
    x[RATE // 4:RATE] += sine(0.75, 220, 0.5) * np.abs(np.sin(np.linspace(0, 9, RATE * 3 // 4)))
    x[RATE // 2:RATE // 2 + 500] = 1.0  # a clipped burst
    return x


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(0, 72_000), max_size=40))
def test_windows_do_not_depend_on_how_the_samples_are_chunked(cuts):
    x = speechlike()
    whole = AudioFeatureExtractor(RATE)
    expected = whole.update(x) + whole.flush()
    chunked = AudioFeatureExtractor(RATE)
    bounds = [0, *sorted(cuts), x.shape[0]]
    got = [w for a, b in pairwise(bounds) for w in chunked.update(x[a:b])]
    assert got + chunked.flush() == expected


def test_aac_and_opus_sized_frames_give_the_windows_of_one_array():
    x = speechlike()
    expected = AudioFeatureExtractor(RATE).update(x)
    for frame in (1024, 960, 441, 1):
        assert feed(AudioFeatureExtractor(RATE), x, frame) == expected


def test_int16_input_equals_the_same_samples_as_floats():
    ints = (speechlike() * 32767).astype(np.int16)
    ints[:100] = -32768
    from_ints = feed(AudioFeatureExtractor(RATE), ints)
    assert from_ints == feed(AudioFeatureExtractor(RATE), ints / 32768.0)
    assert from_ints[0].clipped == pytest.approx(100 / WINDOW)
    as32 = speechlike().astype(np.float32)
    assert (feed(AudioFeatureExtractor(RATE), as32)
            == feed(AudioFeatureExtractor(RATE), as32.astype(np.float64)))


def test_strided_and_read_only_input_equals_a_contiguous_copy():
    stereo = np.repeat(speechlike(), 2)                       # interleaved L, R
    left = stereo[0::2]
    read_only = speechlike()
    read_only.flags.writeable = False
    expected = AudioFeatureExtractor(RATE).update(np.ascontiguousarray(left))
    assert AudioFeatureExtractor(RATE).update(left) == expected
    assert AudioFeatureExtractor(RATE).update(read_only) == expected
    from_bytes = np.frombuffer((speechlike() * 32767).astype(np.int16).tobytes(), np.int16)
    assert len(AudioFeatureExtractor(RATE).update(from_bytes)) == 75


def test_flush_emits_the_partial_window_and_the_stream_goes_on_after_it():
    features = AudioFeatureExtractor(16_000)  # 320-sample windows
    assert features.flush() == []
    assert len(features.update(np.full(700, 0.5))) == 2
    assert features.pending_samples == 60
    (last,) = features.flush()
    assert last.start == 0.04 and last.rms_dbfs == pytest.approx(20 * math.log10(0.5))
    assert features.pending_samples == 0 and features.flush() == []
    (after,) = features.update(np.full(320, 0.5))
    assert after.start == pytest.approx(700 / 16_000)


def test_pickle_round_trip_mid_window_continues_identically():
    x = speechlike()
    expected = feed(AudioFeatureExtractor(RATE), x)
    for cut in (1, 500, 960 * 30 + 7, 50_000):
        features = AudioFeatureExtractor(RATE)
        got = features.update(x[:cut])
        features = pickle.loads(pickle.dumps(features))
        assert got + feed(features, x[cut:]) == expected


def test_bad_input_is_refused_and_leaves_the_state_alone():
    features = AudioFeatureExtractor(RATE)
    features.update(np.full(500, 0.1))
    bad = np.full(2000, 0.1)
    bad[1500] = np.nan
    with pytest.raises(ValueError, match="finite"):
        features.update(bad)
    assert features.pending_samples == 500
    with pytest.raises(ValueError, match="1-d"):
        features.update(np.zeros((2, 960)))
    with pytest.raises(ValueError, match="int16"):
        features.update(np.zeros(960, dtype=np.int32))
    assert features.update(np.empty(0)) == []
    assert [w.start for w in features.update(np.full(460, 0.1))] == [0.0]


def test_window_length_is_rounded_to_whole_samples():
    features = AudioFeatureExtractor(11_025)        # 20 ms = 220.5 samples
    assert features.window_len == 220 and features.window_seconds == 220 / 11_025
    windows = features.update(np.zeros(1000))
    assert [w.start for w in windows] == [k * 220 / 11_025 for k in range(4)]


@pytest.mark.parametrize("kwargs", [
    {"sample_rate": 0}, {"sample_rate": 48_000.0}, {"window_ms": 0.0},
    {"sample_rate": 8000, "window_ms": 0.01}, {"margin_db": -1.0},
    {"min_voice_dbfs": math.nan}, {"hangover_windows": -1}, {"clip_level": 1.5},
])
def test_bad_parameters_name_the_valid_values(kwargs):
    with pytest.raises(ValueError, match=r"must be|shorter"):
        AudioFeatureExtractor(**{"sample_rate": RATE, **kwargs})

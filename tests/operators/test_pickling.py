"""Every stateful operator pickles and resumes identically: Bytewax recovery depends on it."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from midstream.core.config import BUNDLED_RULES
from midstream.core.rules_file import load_rules
from midstream.operators.audio_features import AudioFeatureExtractor
from midstream.operators.dtw import BestMatchSearch
from midstream.operators.lyapunov import SlidingLyapunov
from midstream.operators.permutation_entropy import PermutationEntropy
from midstream.operators.regime import RegimeMonitor
from midstream.operators.repetition import RepetitionDetector
from midstream.operators.spring import Spring
from midstream.operators.stream_health import StreamHealth
from midstream.operators.text_rules import RuleSet, TextScanState
from midstream.operators.video_features import FrameTiming, VideoFeatureExtractor

RULES = RuleSet(load_rules(BUNDLED_RULES))
WORDS = [" I", " will", " check", ".", " mail", " a@b.io", " 4111", " 1111", " sorry", "’"]


def drive_health(state: StreamHealth, token: str, i: int) -> object:
    return state.on_token(1000.0 + i * 0.05 + (3.0 if i == 40 else 0.0))


def drive_rules(state: TextScanState, token: str, i: int) -> object:
    return [(m.rule.name, m.start, m.end) for m in RULES.scan(state, token)]


def drive_loop(state: RepetitionDetector, token: str, i: int) -> object:
    return state.update(token)


@pytest.mark.parametrize(
    ("make", "drive"),
    [
        (lambda: StreamHealth(stall_seconds=1.0), drive_health),
        (TextScanState, drive_rules),
        (lambda: RepetitionDetector(max_period=8, min_repeats=3, min_tokens=6), drive_loop),
    ],
    ids=["StreamHealth", "TextScanState", "RepetitionDetector"],
)
def test_round_trip_at_every_step_continues_identically(make, drive):
    rng = random.Random(0)
    tokens = [rng.choice(WORDS) for _ in range(200)] + [" a", " b", " c"] * 10
    reference = make()
    expected = [drive(reference, t, i) for i, t in enumerate(tokens)]
    for cut in range(0, len(tokens), 17):
        state = make()
        got = [drive(state, t, i) for i, t in enumerate(tokens[:cut])]
        state = pickle.loads(pickle.dumps(state))
        got += [drive(state, t, i + cut) for i, t in enumerate(tokens[cut:])]
        assert got == expected


def _numeric_series() -> list[float]:
    """A rhythm, then logistic chaos, then noise: every monitor has something to report."""
    x, out = 0.3, [[0.1, 0.5, 0.9, 0.3][i % 4] for i in range(150)]
    for _ in range(150):
        x = 4.0 * x * (1.0 - x)
        out.append(x)
    rng = random.Random(1)
    return out + [rng.gauss(0.5, 0.2) for _ in range(150)]


def _comparable(found: object) -> object:
    """Monitor outputs as plain values (NaN compares equal to itself via repr)."""
    return repr(found)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Spring([0.1, 0.5, 0.9, 0.3, 0.1], 0.2),
        lambda: Spring([0.1, 0.9, 0.3], 0.5, window=1, znorm=True),
        lambda: BestMatchSearch([0.5, 0.9, 0.3, 0.1], window=1),
        lambda: RegimeMonitor(window=48, every=8),
        lambda: SlidingLyapunov(window=120, every=40, emb_dim=2),
        lambda: PermutationEntropy(order=3, window=30),
    ],
    ids=["Spring", "Spring-znorm-band", "BestMatchSearch", "RegimeMonitor", "SlidingLyapunov",
         "PermutationEntropy"],
)
def test_numeric_monitors_round_trip_and_continue_identically(make):
    series = _numeric_series()
    reference = make()
    expected = [_comparable(reference.update(x)) for x in series]
    for cut in (1, 47, 150, 151, 299, 400):
        state = make()
        got = [_comparable(state.update(x)) for x in series[:cut]]
        state = pickle.loads(pickle.dumps(state))
        got += [_comparable(state.update(x)) for x in series[cut:]]
        assert got == expected, cut


def _audio_frames() -> list[np.ndarray]:
    """1024-sample frames (AAC-sized, so windows straddle them): silence, a tone, noise."""
    rng = np.random.default_rng(2)
    t = np.arange(48_000) / 48_000
    x = np.concatenate([np.zeros(24_000), 0.3 * np.sin(2 * np.pi * 440 * t),
                        0.01 * rng.standard_normal(24_000)])
    return [x[i:i + 1024] for i in range(0, x.shape[0], 1024)]


def _video_frames() -> list[np.ndarray]:
    """Padded-plane views of a panning texture, with a resolution change and a black frame."""
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    frames = [texture[k:k + 240, 2 * k:2 * k + 320] for k in range(12)]
    frames[6] = np.zeros((240, 320), np.uint8)
    return frames + [texture[k:k + 120, k:k + 160] for k in range(8)]


@pytest.mark.parametrize(
    ("make", "inputs"),
    [
        (lambda: AudioFeatureExtractor(48_000), _audio_frames),
        (lambda: VideoFeatureExtractor(), _video_frames),
        (lambda: FrameTiming(window=5),
         lambda: [0.04 * k + (0.005 if k % 3 == 0 else 0.0) for k in range(40)] + [0.5, 1.7]),
    ],
    ids=["AudioFeatureExtractor", "VideoFeatureExtractor", "FrameTiming"],
)
def test_media_features_round_trip_and_continue_identically(make, inputs):
    items = inputs()
    reference = make()
    expected = [_comparable(reference.update(x)) for x in items]
    for cut in range(1, len(items), 3):
        state = make()
        got = [_comparable(state.update(x)) for x in items[:cut]]
        state = pickle.loads(pickle.dumps(state))
        got += [_comparable(state.update(x)) for x in items[cut:]]
        assert got == expected, cut

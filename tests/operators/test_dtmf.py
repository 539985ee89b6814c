"""DTMF decoding against generated key presses (ITU-T Q.23 frequencies, Q.24 timing)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.dtmf import HIGH_HZ, KEYS, LOW_HZ, DtmfDecoder


def press(digit: str, rate: int, seconds: float = 0.08, amplitude: float = 0.25) -> np.ndarray:
    row = next(i for i, keys in enumerate(KEYS) if digit in keys)
    col = KEYS[row].index(digit)
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * (np.sin(2 * np.pi * LOW_HZ[row] * t) + np.sin(2 * np.pi * HIGH_HZ[col] * t))


def dial(digits: str, rate: int, gap: float = 0.06, noise: float = 0.0,
         seed: int = 0) -> np.ndarray:
    parts = []
    for d in digits:
        parts += [press(d, rate), np.zeros(int(gap * rate))]
    audio = np.concatenate(parts)
    return audio + noise * np.random.default_rng(seed).standard_normal(audio.shape)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_every_key_at_common_rates(rate: int) -> None:
    digits = "".join(KEYS)
    assert "".join(d for _, d in DtmfDecoder(rate).update(dial(digits, rate))) == digits


def test_key_press_start_times() -> None:
    rate = 48000
    starts = [s for s, _ in DtmfDecoder(rate).update(dial("123", rate))]
    assert starts == pytest.approx([0.0, 0.14, 0.28], abs=0.021)  # one 20 ms block


def test_digits_survive_moderate_noise() -> None:
    rate = 16000
    assert "".join(d for _, d in DtmfDecoder(rate).update(dial("5551234", rate, noise=0.02))) \
        == "5551234"


@pytest.mark.parametrize("signal", ["silence", "noise", "tone", "chord", "short_press"])
def test_no_digits_from_things_that_are_not_key_presses(signal: str) -> None:
    rate = 48000
    t = np.arange(rate) / rate
    audio = {
        "silence": np.zeros(rate),
        "noise": 0.3 * np.random.default_rng(1).standard_normal(rate),
        "tone": 0.5 * np.sin(2 * np.pi * 440 * t),
        # A voiced sound: harmonics of 120 Hz spread energy over many frequencies.
        "chord": sum(0.3 / k * np.sin(2 * np.pi * 120 * k * t) for k in range(1, 25)),
        "short_press": np.concatenate([press("7", rate, seconds=0.02), np.zeros(rate)]),
    }[signal]
    assert DtmfDecoder(rate).update(np.asarray(audio)) == []


def test_a_held_key_counts_once_and_a_repeat_after_a_gap_counts_again() -> None:
    rate = 8000
    held = press("8", rate, seconds=1.0)
    again = np.concatenate([held, np.zeros(800), press("8", rate)])
    assert [d for _, d in DtmfDecoder(rate).update(again)] == ["8", "8"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=40))
def test_chunking_does_not_change_the_result(cuts: list[int]) -> None:
    rate = 16000
    audio = dial("90#", rate)
    whole = DtmfDecoder(rate).update(audio)
    decoder = DtmfDecoder(rate)
    got: list[tuple[float, str]] = []
    edges = np.cumsum(cuts)
    for chunk in np.split(audio, edges[edges < len(audio)]):
        got += decoder.update(chunk)
    assert got == whole


def test_pickled_mid_press_resumes_identically() -> None:
    rate = 8000
    audio = dial("24", rate)
    decoder = DtmfDecoder(rate)
    decoder.update(audio[:500])
    twin = pickle.loads(pickle.dumps(decoder))
    assert decoder.update(audio[500:]) == twin.update(audio[500:])


def test_rejects_rates_too_low_for_the_high_group() -> None:
    with pytest.raises(ValueError, match="4000"):
        DtmfDecoder(3000)

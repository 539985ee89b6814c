"""Checkpoint features (flows/learning/features.py): bounded, exact, and fed only applied events."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from midstream.core import events
from midstream.flows.learning.features import (
    MAX_WORD_CHARS,
    MAX_WORDS,
    PrefixTrail,
    checkpoint_features,
)
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState
from midstream.operators.learning.hashing import feature_slot


def replay(pieces: list[str], times: list[float] | None = None, *, end: bool = True,
           extra: list[events.TokenEvent] | None = None
           ) -> tuple[StreamState, PrefixTrail]:
    analyzer = StreamAnalyzer.with_defaults()
    state, trail = analyzer.new_state("s"), PrefixTrail()
    times = times or [0.3 + 0.05 * i for i in range(len(pieces))]
    stream = [events.TokenEvent(v=1, stream_id="s", seq=0, ts=0.0, kind="start", model="m")]
    stream += [events.TokenEvent(v=1, stream_id="s", seq=i + 1, ts=t, kind="delta", text=p)
               for i, (t, p) in enumerate(zip(times, pieces, strict=True))]
    if end:
        stream.append(events.TokenEvent(v=1, stream_id="s", seq=len(pieces) + 1,
                                        ts=times[-1] + 0.1, kind="end"))
    for event in stream + (extra or []):
        analyzer.on_event(state, event, now=event.ts)
        trail.on_event(event, state)
    return state, trail


def test_gap_statistics_equal_numpy_on_the_same_gaps() -> None:
    rng = np.random.default_rng(3)
    times = list(np.cumsum(rng.lognormal(-3.0, 0.6, 80)) + 0.3)
    _, trail = replay([" x"] * 80, times)
    gaps = np.diff(times)
    assert trail.gaps == 79
    assert trail.gap_mean_s == pytest.approx(gaps.mean(), rel=1e-12)
    assert trail.gap_std_s == pytest.approx(gaps.std(ddof=1), rel=1e-9)


def test_a_word_split_across_deltas_counts_once_whole_and_the_last_word_at_the_end() -> None:
    _, trail = replay(["Hel", "lo wor", "ld. Hello", " again"])
    assert trail.words == {"hello": 2, "world": 1, "again": 1}


def test_duplicates_and_events_after_the_end_change_nothing() -> None:
    state, trail = replay([" a", " b"])
    before = pickle.dumps(trail)
    duplicate = events.TokenEvent(v=1, stream_id="s", seq=2, ts=9.0, kind="delta", text=" c")
    late = events.TokenEvent(v=1, stream_id="s", seq=9, ts=9.0, kind="delta", text=" d")
    analyzer = StreamAnalyzer.with_defaults()
    for event in (duplicate, late):
        analyzer.on_event(state, event, now=9.0)
        trail.on_event(event, state)
    assert pickle.dumps(trail) == before


def test_the_bag_and_each_word_stay_bounded_whatever_the_text() -> None:
    pieces = [f" w{i}" for i in range(500)] + [" " + "z" * 60_000]
    state, trail = replay(pieces)
    assert len(trail.words) == MAX_WORDS and trail.words_dropped == 500 + 1 - MAX_WORDS
    assert all(len(w) <= MAX_WORD_CHARS for w in trail.words) and len(trail.pending) == 0
    _, long_word = replay(["y" * 60_000] * 3, end=False)
    assert len(long_word.pending) <= MAX_WORD_CHARS
    x = checkpoint_features(state, trail, "end", bits=18)
    assert len(x.indices) <= 1 + 7 + 3 + MAX_WORDS + 64 + 4  # numeric, names, detections, series


def test_detections_model_and_checkpoint_are_features() -> None:
    state, trail = replay([" mail jane.doe", "@example.com", " now."])
    x = checkpoint_features(state, trail, "insight", bits=16)
    slots = set(x.indices.tolist())
    for key in ("detection=rules/email_address", "model=m", "provider=none",
                "checkpoint=insight", "word=jane"):
        assert feature_slot(key, 16)[0] in slots, key


def test_a_trail_pickled_midway_goes_on_identically() -> None:
    whole_state, whole = replay(["Hel", "lo wor", "ld. Hello", " again"])
    analyzer = StreamAnalyzer.with_defaults()
    state, trail = analyzer.new_state("s"), PrefixTrail()
    stream = [events.TokenEvent(v=1, stream_id="s", seq=0, ts=0.0, kind="start", model="m")]
    stream += [events.TokenEvent(v=1, stream_id="s", seq=i + 1, ts=0.3 + 0.05 * i, kind="delta",
                                 text=p) for i, p in enumerate(["Hel", "lo wor", "ld. Hello", " again"])]
    stream.append(events.TokenEvent(v=1, stream_id="s", seq=5, ts=0.55, kind="end"))
    for i, event in enumerate(stream):
        if i == 2:
            state, trail = pickle.loads(pickle.dumps((state, trail)))
        analyzer.on_event(state, event, now=event.ts)
        trail.on_event(event, state)
    assert pickle.dumps(trail) == pickle.dumps(whole)
    a = checkpoint_features(state, trail, "end")
    b = checkpoint_features(whole_state, whole, "end")
    assert a.indices.tolist() == b.indices.tolist() and a.values.tolist() == b.values.tolist()


def test_an_unknown_checkpoint_names_the_valid_ones() -> None:
    state, trail = replay([" a"])
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        checkpoint_features(state, trail, "sometimes")


def test_a_scaler_standardises_the_health_numbers_and_leaves_the_words() -> None:
    from midstream.operators.learning.scaling import RunningStandardizer

    state, trail = replay([" alpha", " beta."])
    scaler = RunningStandardizer()
    first = checkpoint_features(state, trail, "end", bits=16, scaler=scaler)
    plain = checkpoint_features(state, trail, "end", bits=16)
    word = feature_slot("word=alpha", 16)[0]
    ttft = feature_slot("ttft_log1p_ms", 16)[0]
    values = dict(zip(first.indices.tolist(), first.values.tolist(), strict=True))
    raw = dict(zip(plain.indices.tolist(), plain.values.tolist(), strict=True))
    assert values[word] == raw[word] and ttft not in values  # first sight: centred to 0
    assert set(scaler.stats) >= {"ttft_log1p_ms", "tokens_log1p"}

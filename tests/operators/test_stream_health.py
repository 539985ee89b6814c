"""Tests for operators/stream_health.py against batch computations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from midstream.operators.stream_health import StreamHealth


def test_incremental_statistics_equal_batch_answers_at_every_step():
    rng = np.random.default_rng(0)
    gaps = rng.exponential(0.05, size=500)
    gaps[[50, 200, 201]] = [3.0, 2.5, 4.0]
    start = 1000.0
    times = start + 0.3 + np.concatenate([[0.0], np.cumsum(gaps)])
    h = StreamHealth(stall_seconds=2.0)
    h.on_start(start)
    for i, t in enumerate(times):
        gap = h.on_token(float(t))
        seen = times[: i + 1]
        assert (gap is None) == (i == 0)
        if i:
            assert gap == pytest.approx(seen[-1] - seen[-2])
        diffs = np.diff(seen)
        assert h.stalls == int((diffs > 2.0).sum())
        assert h.longest_gap == pytest.approx(diffs.max() if i else 0.0)
        assert h.time_to_first_token == pytest.approx(0.3)
        if i >= 1:
            assert h.tokens_per_second == pytest.approx(i / (seen[-1] - seen[0]))
    h.on_end(float(times[-1]) + 0.1)
    assert h.duration == pytest.approx(times[-1] + 0.1 - start)


def test_stream_without_start_event_uses_the_first_event():
    h = StreamHealth(stall_seconds=1.0)
    h.on_token(5.0)
    assert h.started_at == 5.0
    assert h.time_to_first_token == 0.0
    assert h.tokens_per_second is None


def test_pickles():
    h = StreamHealth(stall_seconds=1.0)
    h.on_start(1.0)
    h.on_token(2.0)
    assert pickle.loads(pickle.dumps(h)) == h


def test_threshold_validated():
    with pytest.raises(ValueError, match="stall_seconds must be > 0"):
        StreamHealth(stall_seconds=0)

"""The windowed series operators group samples exactly as event-time windows should."""

from __future__ import annotations

import random
from datetime import timedelta

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from midstream.flows.series_operators import Sample, WindowResult, analyse_windows, monitor_samples


def keyed_samples(seed: int = 0, keys: int = 3, count: int = 200) -> list[tuple[str, Sample]]:
    rng = random.Random(seed)
    out = []
    for k in range(keys):
        t = 1_000.0 + k
        for _ in range(count):
            t += rng.uniform(0.01, 0.5)
            out.append((f"s{k}", Sample(round(t, 6), rng.gauss(0.0, 1.0))))
    out.sort(key=lambda item: item[1].ts)
    return out


def run_windows(items, **kwargs) -> tuple[list, list]:
    flow = Dataflow("windows")
    keyed = op.input("in", flow, TestingSource(items))
    windows = analyse_windows("w", keyed, **kwargs)
    down: list = []
    late: list = []
    op.output("down", windows.down, TestingSink(down))
    op.output("late", windows.late, TestingSink(late))
    run_main(flow)
    return down, late


def brute_force(items, length: float, step: float) -> dict[tuple[str, int], list[float]]:
    """Every window [id*step, id*step + length) that holds each sample, by key."""
    groups: dict[tuple[str, int], list[float]] = {}
    per = round(length / step)
    for key, s in items:
        last = int(np.floor(s.ts / step))
        for window_id in range(last - per + 1, last + 1):
            if window_id * step <= s.ts < window_id * step + length:
                groups.setdefault((key, window_id), []).append(s.value)
    return groups


@pytest.mark.parametrize(("length", "offset"), [(5.0, None), (5.0, 1.0), (6.0, 2.0)],
                         ids=["tumbling", "sliding-5/1", "sliding-6/2"])
def test_every_window_holds_exactly_its_samples(length, offset):
    items = keyed_samples()
    down, late = run_windows(
        items, length=timedelta(seconds=length),
        offset=None if offset is None else timedelta(seconds=offset),
        analyse=lambda ts, x: (len(x), float(x.sum()), bool(np.all(np.diff(ts) >= 0))))
    assert late == []
    expected = brute_force(items, length, offset or length)
    got = {(key, r.window_id): r for key, r in down}
    assert set(got) == set(expected)
    for where, values in expected.items():
        result: WindowResult = got[where]
        count, total, ordered = result.result
        assert count == result.samples == len(values)
        assert total == pytest.approx(sum(values))
        assert ordered
        assert result.open_ts == pytest.approx(where[1] * (offset or length))
        assert result.close_ts == pytest.approx(result.open_ts + length)


def test_windows_whose_analysis_returns_none_are_dropped():
    items = keyed_samples(keys=1)
    down, _ = run_windows(items, length=timedelta(seconds=5),
                          analyse=lambda ts, x: None if len(x) < 20 else len(x))
    assert down and all(r.result >= 20 for _, r in down)
    assert len(down) < len(brute_force(items, 5.0, 5.0))


def test_a_sample_older_than_a_closed_window_comes_out_late():
    items = [("s", Sample(100.0 + i, float(i))) for i in range(20)]
    items.append(("s", Sample(101.5, -1.0)))  # its window [100, 105) closed long ago
    down, late = run_windows(items, length=timedelta(seconds=5),
                             analyse=lambda ts, x: float(x.sum()))
    assert late == [("s", Sample(101.5, -1.0))]
    assert sum(r.result for _, r in down) == sum(range(20))


def test_invalid_windows_are_refused():
    flow = Dataflow("bad")
    keyed = op.input("in", flow, TestingSource([]))
    with pytest.raises(ValueError, match="length must be"):
        analyse_windows("w", keyed, length=timedelta(0), analyse=lambda ts, x: None)
    with pytest.raises(ValueError, match="offset must be"):
        analyse_windows("w2", keyed, length=timedelta(seconds=1), offset=timedelta(seconds=2),
                        analyse=lambda ts, x: None)


class RunningMax:
    """A tiny monitor: reports each new maximum, as a list, like ``Spring.update``."""

    def __init__(self) -> None:
        self.best = float("-inf")

    def update(self, x: float) -> list[float]:
        if x > self.best:
            self.best = x
            return [x]
        return []


def test_monitor_samples_keeps_one_monitor_per_key_in_arrival_order():
    items = keyed_samples(keys=2, count=100)
    flow = Dataflow("monitor")
    keyed = op.input("in", flow, TestingSource(items))
    out: list = []
    op.output("out", monitor_samples("max", keyed, RunningMax), TestingSink(out))
    run_main(flow)
    for key in ("s0", "s1"):
        values = [s.value for k, s in items if k == key]
        expected = [v for i, v in enumerate(values) if v > max(values[:i], default=-np.inf)]
        assert [found for k, (_, found) in out if k == key] == expected


def media_like_series(switch_at: float | None, seconds: float = 60.0, rate: float = 20.0
                      ) -> list[Sample]:
    """A 20 Hz feature series: a period-5 rhythm, then (from ``switch_at`` s) logistic chaos."""
    out, x = [], 0.3141
    for i in range(int(seconds * rate)):
        t = 1_000.0 + i / rate
        if switch_at is not None and t - 1_000.0 >= switch_at:
            x = 4.0 * x * (1.0 - x)
            value = x
        else:
            value = [0.1, 0.5, 0.9, 0.3, 0.7][i % 5]
        out.append(Sample(t, value))
    return out


def test_regime_of_event_time_windows_follows_each_key():
    from midstream.flows.series_operators import regime_of_window

    steady = [("steady", s) for s in media_like_series(None)]
    switching = [("switching", s) for s in media_like_series(switch_at=30.0)]
    items = sorted(steady + switching, key=lambda item: item[1].ts)
    # The first windows compile numba kernels: seconds of processing time, which
    # Bytewax's event clock counts as time passing. Allow for it, as a live flow must.
    down, late = run_windows(items, length=timedelta(seconds=10), analyse=regime_of_window,
                             wait_for=timedelta(seconds=60))
    assert late == []
    verdicts = {(key, round(r.open_ts - 1_000.0)): r.result.kind for key, r in down}
    assert {k for (key, _), k in verdicts.items() if key == "steady"} == {"periodic"}
    assert [verdicts["switching", t] for t in (0, 10, 20, 30, 40, 50)] == [
        "periodic", "periodic", "periodic", "chaotic", "chaotic", "chaotic"]


def test_sliding_regime_monitor_per_key_flags_the_switch_within_50_samples():
    from midstream.operators.regime import RegimeMonitor

    items = [("k", s) for s in media_like_series(switch_at=30.0)]
    flow = Dataflow("sliding")
    keyed = op.input("in", flow, TestingSource(items))
    out: list = []
    op.output("out", monitor_samples("regime", keyed, lambda: RegimeMonitor(48, 4)),
              TestingSink(out))
    run_main(flow)
    switch = 30 * 20
    kinds = [(round((s.ts - 1_000.0) * 20), r.kind) for _, (s, r) in out]
    assert all(kind == "periodic" for i, kind in kinds if i < switch)
    assert any(kind != "periodic" for i, kind in kinds if switch <= i <= switch + 50)


def test_a_slow_analysis_makes_no_sample_late() -> None:
    """The watermark follows event time, not the machine: the same samples, the same windows."""
    import time

    items = [("s", Sample(1_000.0 + 0.25 * i, float(i))) for i in range(24)]

    def slow(ts: np.ndarray, x: np.ndarray) -> int:
        time.sleep(0.6)  # longer than the event-time gap between samples
        return len(x)

    down, late = run_windows(items, length=timedelta(seconds=2.0), analyse=slow)
    assert late == []
    assert [r.result for _, r in down] == [8, 8, 8]

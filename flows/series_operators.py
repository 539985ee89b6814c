"""Bytewax operators that apply the temporal analyses to any keyed numeric series.

A numeric series is a keyed stream of :class:`Sample` (event time in seconds, value):
inter-token latencies, logprobs, audio energy, motion scores. Three shapes of
analysis are offered, so that every flow wires them the same way:

* :func:`analyse_windows`: event-time windows, tumbling or sliding, closed by
  Bytewax's :class:`~bytewax.operators.windowing.EventClock`. Each closed window
  is handed to a pure function (``regime_of_window``, ``lyapunov_of_window``, or your own).
* :func:`monitor_samples`: a pure stateful monitor per key, fed every sample in
  arrival order; for count-based sliding forms (``RegimeMonitor``,
  ``SlidingLyapunov``) and for streaming matchers (``Spring``).
* :func:`regime_of_window` and :func:`lyapunov_of_window`: ready-made window analyses.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> from bytewax.dataflow import Dataflow
>>> import bytewax.operators as op
>>> from bytewax.testing import TestingSink, TestingSource, run_main
>>> flow = Dataflow("doc")
>>> samples = [("s1", Sample(ts=float(t), value=float(t % 2))) for t in range(6)]
>>> keyed = op.input("in", flow, TestingSource(samples))
>>> out = analyse_windows("mean", keyed, length=timedelta(seconds=3),
...                       analyse=lambda ts, x: float(x.mean()))
>>> got = []
>>> op.output("out", out.down, TestingSink(got))
>>> run_main(flow)
>>> [(key, w.window_id, w.samples, round(w.result, 3)) for key, w in got]
[('s1', 0, 3, 0.333), ('s1', 1, 3, 0.667)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import bytewax.operators as op
import bytewax.operators.windowing as win
import numpy as np
from bytewax.dataflow import Stream, operator

from midstream.operators.lyapunov import LyapunovResult, largest_lyapunov
from midstream.operators.regime import MIN_LENGTH, RegimeResult, classify

R = TypeVar("R")
S = TypeVar("S", bound="SampleMonitor")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Sample(NamedTuple):
    """One point of a numeric series: event time (Unix seconds) and value."""

    ts: float
    value: float


@dataclass(frozen=True, slots=True)
class WindowResult(Generic[R]):
    """What one closed event-time window produced."""

    window_id: int
    open_ts: float
    close_ts: float
    samples: int
    result: R


@dataclass(frozen=True, slots=True)
class SeriesWindows(Generic[R]):
    """The streams :func:`analyse_windows` returns."""

    down: Stream[tuple[str, WindowResult[R]]]
    """One result per key and closed window (windows whose analysis returned None are dropped)."""
    late: Stream[tuple[str, Sample]]
    """Samples that arrived after their window closed: count them, don't lose them silently."""


class SampleMonitor(Protocol):
    """A pure stateful analysis fed one value at a time (``RegimeMonitor``, ``Spring``...)."""

    def update(self, x: float) -> Any:
        """Take one value; return a finding, a list of findings, or None."""
        ...


@operator
def analyse_windows(
    step_id: str,
    up: Stream[tuple[str, Sample]],
    *,
    length: timedelta,
    analyse: Callable[[np.ndarray, np.ndarray], R | None],
    offset: timedelta | None = None,
    wait_for: timedelta = timedelta(0),
    align_to: datetime = EPOCH,
    live: bool = False,
) -> SeriesWindows[R]:
    """Apply ``analyse(ts, values)`` to every event-time window of every key.

    Parameters
    ----------
    step_id
        Bytewax step id; it names the state in recovery snapshots, so keep it stable.
    up
        Keyed samples.
    length
        Window length in event time.
    analyse
        A pure function of the window's timestamps and values (both float64 arrays,
        in event-time order). Return None to emit nothing for that window.
    offset
        Distance between window starts. None (or equal to ``length``) gives tumbling
        windows; smaller gives sliding, overlapping windows.
    wait_for
        How far behind the newest sample of its key a sample may be and still
        count (out-of-order slack); older samples come out on ``late``.
    align_to
        Where windows are aligned; the Unix epoch by default.
    live
        False (the default): the watermark moves with event time only, so the
        same samples give the same windows however fast or slow the machine,
        and a key's last window closes when newer samples or the end of the
        input arrive. True: it also advances with the system clock between
        samples (Bytewax's default), which closes windows of a silent key
        while it is silent, at the price of results that depend on processing
        speed: a slow analysis or a busy worker can make on-time samples late.
    """
    if length <= timedelta(0):
        raise ValueError("length must be a positive timedelta")
    if offset is not None and not timedelta(0) < offset <= length:
        raise ValueError("offset must be positive and at most length (None means tumbling)")
    if live:
        clock = win.EventClock(_sample_time, wait_for_system_duration=wait_for)
    else:
        # A clock that never moves: the watermark is the newest sample's time minus wait_for.
        clock = win.EventClock(_sample_time, wait_for_system_duration=wait_for,
                               now_getter=_frozen_now, to_system_utc=_no_system_time)
    windower: win.Windower[Any]
    step = length if offset is None else offset
    if step == length:
        windower = win.TumblingWindower(length=length, align_to=align_to)
    else:
        windower = win.SlidingWindower(length=length, offset=step, align_to=align_to)
    collected = win.collect_window("collect", up, clock, windower)
    origin = (align_to - EPOCH).total_seconds()
    step_s = step.total_seconds()
    length_s = length.total_seconds()

    def finish(item: tuple[int, list[Sample]]) -> WindowResult[R] | None:
        window_id, samples = item
        ts = np.fromiter((s.ts for s in samples), dtype=np.float64, count=len(samples))
        values = np.fromiter((s.value for s in samples), dtype=np.float64, count=len(samples))
        result = analyse(ts, values)
        if result is None:
            return None
        opened = origin + window_id * step_s
        return WindowResult(window_id, opened, opened + length_s, len(samples), result)

    down = op.filter_map_value("analyse", collected.down, finish)
    late = op.map_value("late", collected.late, lambda item: item[1])
    return SeriesWindows(down=down, late=late)


@operator
def monitor_samples(
    step_id: str,
    up: Stream[tuple[str, Sample]],
    make: Callable[[], S],
) -> Stream[tuple[str, tuple[Sample, Any]]]:
    """Feed each key's samples, in arrival order, to its own monitor built by ``make``.

    Emits ``(key, (sample, finding))`` for every non-empty finding; a list of
    findings (as ``Spring.update`` returns) is emitted one finding at a time. The
    monitor is the step's state, so it must pickle (every operator class does).
    """

    def step(monitor: S | None, sample: Sample) -> tuple[S, list[tuple[Sample, Any]]]:
        if monitor is None:
            monitor = make()
        found = monitor.update(sample.value)
        if found is None:
            return monitor, []
        if isinstance(found, list):
            return monitor, [(sample, f) for f in found]
        return monitor, [(sample, found)]

    findings = op.stateful_map("monitor", up, step)
    return op.flat_map_value("findings", findings, lambda items: items)


def regime_of_window(ts: np.ndarray, values: np.ndarray) -> RegimeResult | None:
    """Classify the regime of one window's values (None below the classifier's minimum length).

    The samples are taken as evenly spaced, ``dt`` being their mean spacing: event-time
    windows of a series sampled at a steady rate, like media frames.

    >>> t = np.arange(120.0)
    >>> regime_of_window(t, np.sin(2 * np.pi * t / 12)).kind
    'periodic'
    """
    if values.shape[0] < MIN_LENGTH or not np.all(np.isfinite(values)):
        return None
    dt = float(np.mean(np.diff(ts))) if ts.shape[0] > 1 else 1.0
    return classify(values, dt=dt if dt > 0 else 1.0)


def lyapunov_of_window(ts: np.ndarray, values: np.ndarray) -> LyapunovResult:
    """Estimate the largest Lyapunov exponent of one window, per second of event time.

    Windows too short or degenerate for an estimate give a non-confident result
    (NaN value), never an error.

    >>> x = np.empty(600); x[0] = 0.3
    >>> for i in range(1, 600):
    ...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
    >>> result = lyapunov_of_window(np.arange(600) * 0.5, x)   # two samples a second
    >>> result.confident, round(result.value, 1)                # ln 2 per sample = 1.4 / s
    (True, 1.4)
    """
    dt = float(np.mean(np.diff(ts))) if ts.shape[0] > 1 else 1.0
    return largest_lyapunov(values, dt=dt if dt > 0 else 1.0)


def _frozen_now() -> datetime:
    return EPOCH


def _no_system_time(_: datetime) -> datetime | None:
    # A window closes when the watermark passes it (new samples or the end of the input),
    # never at a system time.
    return None


def _sample_time(sample: Sample) -> datetime:
    return EPOCH + timedelta(seconds=sample.ts)

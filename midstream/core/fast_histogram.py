"""A Prometheus histogram for per-token observations: observing is a queue append.

``prometheus_client.Histogram.observe`` takes a lock and walks the buckets:
about 0.8 µs, paid once per token for inter-token latency. Here ``observe``
appends to a ``deque`` (atomic under the GIL, about 50 ns) and the values are
counted into buckets with NumPy in bulk, when the queue grows long or when
Prometheus scrapes. The exposition is a normal histogram.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> h = FastHistogram("gap_seconds", "Gaps.", ("model",), (0.1, 1.0), registry)
>>> for v in (0.05, 0.5, 0.5, 3.0):
...     h.labels("m").observe(v)
>>> registry.get_sample_value("gap_seconds_bucket", {"model": "m", "le": "1.0"})
3.0
>>> registry.get_sample_value("gap_seconds_count", {"model": "m"})
4.0
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

FOLD_EVERY = 4096
"""Queued observations that trigger counting them into buckets."""


class FastHistogramChild:
    """One labelled series."""

    __slots__ = ("_bounds", "_counts", "_lock", "_pending", "_sum")

    def __init__(self, bounds: np.ndarray) -> None:
        self._bounds = bounds
        self._counts = np.zeros(len(bounds), dtype=np.int64)
        self._sum = 0.0
        self._pending: deque[float] = deque()
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Record one value."""
        pending = self._pending
        pending.append(value)
        if len(pending) >= FOLD_EVERY:
            self.fold()

    def fold(self) -> None:
        """Count queued values into the buckets (safe against concurrent observe)."""
        with self._lock:
            pending = self._pending
            taken = [pending.popleft() for _ in range(len(pending))]
            if not taken:
                return
            values = np.asarray(taken, dtype=np.float64)
            index = np.searchsorted(self._bounds, values, side="left")
            self._counts += np.bincount(index, minlength=len(self._bounds))
            self._sum += float(values.sum())

    def snapshot(self) -> tuple[list[float], float]:
        """Cumulative bucket counts (last is +Inf) and the sum."""
        self.fold()
        with self._lock:
            return [float(c) for c in np.cumsum(self._counts)], self._sum


class FastHistogram(Collector):
    """A labelled histogram registered in ``registry``; see the module docstring."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str],
                 buckets: Sequence[float], registry: CollectorRegistry) -> None:
        if list(buckets) != sorted(buckets):
            raise ValueError("buckets must be sorted")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.buckets = tuple(float(b) for b in buckets if b != math.inf)
        self._bounds = np.array((*self.buckets, math.inf))
        self._children: dict[tuple[str, ...], FastHistogramChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> FastHistogramChild:
        """Return the series for these label values (created on first use)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"expected {len(self.labelnames)} label values, got {values}")
            with self._lock:
                child = self._children.setdefault(values, FastHistogramChild(self._bounds))
        return child

    def describe(self) -> Iterator[HistogramMetricFamily]:
        """Describe the histogram without its samples (for registration)."""
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """Count the queued values into buckets and yield every series' histogram."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        bounds = [*(repr(b) for b in self.buckets), "+Inf"]
        for values, child in list(self._children.items()):
            cumulative, total = child.snapshot()
            family.add_metric(list(values), list(zip(bounds, cumulative, strict=True)), total)
        yield family

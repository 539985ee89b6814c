"""Regime classification: accuracy and cost per window, incremental permutation entropy, 0–1 test.

Prints, from one run:

- the confusion matrix of ``classify`` on the labelled suite of 300-sample windows
  (the one ``tests/operators/test_regime.py`` asserts on, with more seeds) and on
  48-sample windows (periodic maps and sines vs logistic/Hénon vs noise, 0–5 % noise);
- the cost of ``classify`` per 300-sample window (median over the suite's windows, each
  the median of repeats, after numba warm-up), overall and per true regime;
- the incremental permutation entropy per sample, fed in batches and one sample per call,
  beside the plain way of recomputing it over the window at each sample;
- how soon ``RegimeMonitor`` (48-sample windows) notices a latency-like series that
  switches from periodic to chaotic;
- the 0–1 test on 300 and 2000 samples beside a plain-NumPy implementation of the same
  algorithm (P. Matthews' reference ``z1test.m``, vectorised over lags), with the
  same ``c`` values, checked to agree.

    python -m bench.regime --seeds 20
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from midstream.operators.permutation_entropy import PermutationEntropy, permutation_entropy
from midstream.operators.regime import CHAOTIC, KINDS, NOISE, PERIODIC, RegimeMonitor, classify
from midstream.operators.zero_one_test import C_HIGH, C_LOW, zero_one_k_values
from tests.operators.dynamical_systems import (
    add_noise,
    henon,
    logistic,
    period_k_map,
    sine,
    white_noise,
)
from tests.operators.test_regime import (
    accuracy,
    confusion,
    format_confusion,
    labelled_suite,
    short_suite,
)

TARGET_MS = 2.0


def timed(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run`` in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def numpy_zero_one_k(x: np.ndarray, cs: np.ndarray, n_cut: int) -> np.ndarray:
    """Peer: the 2009 algorithm in plain NumPy (``z1test.m``), one vectorised pass per c."""
    n = x.shape[0]
    j = np.arange(1, n + 1)
    lags = np.arange(1, n_cut + 1)
    mean2 = x.mean() ** 2
    out = np.empty(cs.shape[0])
    for i, c in enumerate(cs):
        p = np.cumsum(x * np.cos(j * c))
        q = np.cumsum(x * np.sin(j * c))
        m = np.array([np.mean((p[k:] - p[:-k]) ** 2 + (q[k:] - q[:-k]) ** 2) for k in lags])
        d = m - mean2 * (1 - np.cos(lags * c)) / (1 - np.cos(c))
        out[i] = np.corrcoef(lags, d)[0, 1]
    return out


def numpy_permutation_entropy(x: np.ndarray, order: int) -> float:
    """Peer: permutation entropy by argsort of every pattern and np.unique, normalised."""
    patterns = np.lib.stride_tricks.sliding_window_view(x, order)
    _, counts = np.unique(np.argsort(patterns, axis=1, kind="stable"), axis=0,
                          return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(math.factorial(order)))


def bench_accuracy(seeds: int) -> None:
    matrix, misses = confusion(labelled_suite(300, seeds=seeds))
    total = sum(matrix.values())
    print(f"## Accuracy, 300-sample windows ({total} windows, {seeds} seeds, 0–10 % noise)\n")
    print(format_confusion(matrix))
    print(f"\noverall accuracy {accuracy(matrix):.2%}; misses (and how many of them "
          f"confident): {dict(misses) or 'none'}\n")
    matrix, misses = confusion(short_suite(48, seeds=2 * seeds))
    total = sum(matrix.values())
    print(f"## Accuracy, 48-sample windows ({total} windows, 0–5 % noise)\n")
    print(format_confusion(matrix))
    print(f"\nperiodic vs chaotic accuracy {accuracy(matrix, (PERIODIC, CHAOTIC)):.2%}, "
          f"with noise {accuracy(matrix, (PERIODIC, CHAOTIC, NOISE)):.2%}; "
          f"misses: {dict(misses) or 'none'}\n")


def bench_classify(seeds: int, repeats: int) -> None:
    cases = list(labelled_suite(300, seeds=seeds))
    for _, _, x, dt in cases[:50]:  # numba warm-up (compiled on first call, then cached)
        classify(x, dt=dt)
    per_kind: dict[str, list[float]] = {k: [] for k in KINDS}
    for label, _, x, dt in cases:
        per_kind[label].append(timed(partial(classify, x, dt=dt), repeats) * 1e3)
    every = [t for ts in per_kind.values() for t in ts]
    median = statistics.median(every)
    p90 = float(np.percentile(every, 90))
    print(f"## classify, one 300-sample window ({len(every)} windows, median of {repeats} "
          "runs each)\n")
    print("| windows | median ms | p90 ms |")
    print("|---|---|---|")
    print(f"| all | {median:.3f} | {p90:.3f} |")
    for kind, ts in per_kind.items():
        print(f"| {kind} | {statistics.median(ts):.3f} | {np.percentile(ts, 90):.3f} |")
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(f"\ntarget: median <= {TARGET_MS} ms per window: {verdict}\n")


def bench_permutation_entropy(samples: int) -> None:
    x = white_noise(samples, seed=1)
    order, window = 4, 300
    PermutationEntropy(order, window).update(x[:1000])  # warm-up
    permutation_entropy(x[:window], order)
    batch = timed(lambda: PermutationEntropy(order, window).update(x), 3) / samples * 1e9

    def one_at_a_time() -> None:
        pe = PermutationEntropy(order, window)
        for v in x[:100_000]:
            pe.update(v)

    single = timed(one_at_a_time, 3) / 100_000 * 1e9
    m = 2000
    recompute = timed(lambda: [permutation_entropy(x[i - window : i], order)
                               for i in range(window, window + m)], 3) / m * 1e9
    peer = timed(lambda: [numpy_permutation_entropy(x[i - window : i], order)
                          for i in range(window, window + 200)], 3) / 200 * 1e9
    print(f"## Permutation entropy, order {order}, sliding window of {window} samples\n")
    print("| method | ns per sample |")
    print("|---|---|")
    print(f"| PermutationEntropy.update, batches of {samples} | {batch:.1f} |")
    print(f"| PermutationEntropy.update, one sample per call | {single:.0f} |")
    print(f"| recompute permutation_entropy (numba) over the window | {recompute:.0f} |")
    print(f"| peer: recompute in plain NumPy (argsort + unique) | {peer:.0f} |\n")


def bench_zero_one(repeats: int) -> None:
    print("## 0–1 test for chaos (n_c = 100, n_cut = N/10), logistic map r=4\n")
    print("| N | zero_one_test ms | plain NumPy peer ms | speed-up | max abs diff of K_c |")
    print("|---|---|---|---|---|")
    for n in (300, 2000):
        x = logistic(n, seed=2)
        cs = np.random.default_rng(0).uniform(C_LOW, C_HIGH, 100)
        zero_one_k_values(x, n_c=100, seed=0)  # warm-up
        ours = timed(partial(zero_one_k_values, x, n_c=100, seed=0), repeats) * 1e3
        peer_k = numpy_zero_one_k(x, cs, n // 10)
        peer = timed(partial(numpy_zero_one_k, x, cs, n // 10), max(3, repeats // 10)) * 1e3
        diff = float(np.max(np.abs(zero_one_k_values(x, n_c=100, seed=0) - peer_k)))
        print(f"| {n} | {ours:.3f} | {peer:.2f} | {peer / ours:.0f}x | {diff:.1e} |")
    print()


def switching_series(seed: int) -> np.ndarray:
    """300 periodic samples (period-2..8 map or sine) then 300 chaotic ones (logistic or
    Hénon), both scaled to a latency-like 50 +- 5, with 0, 2 or 5 % noise."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    before = (period_k_map(300, k, seed=seed) if seed % 2
              else sine(300, period=rng.uniform(3.3, 12), phase=1.0))
    after = logistic(300, seed=seed) if seed % 4 < 2 else henon(300, seed=seed)
    parts = [(p - p.mean()) / p.std() for p in (before, after)]
    return add_noise(50 + 5 * np.concatenate(parts), (0.0, 0.02, 0.05)[seed % 3], seed=seed)


def bench_switch(seeds: int, window: int, every: int) -> None:
    left: list[int] = []
    chaotic: list[int] = []
    wrong = checks = 0
    started = time.perf_counter()
    for seed in range(seeds):
        monitor = RegimeMonitor(window=window, every=every)
        first_left = first_chaotic = None
        for i, v in enumerate(switching_series(seed)):
            r = monitor.update(v)
            if r is None:
                continue
            if i < 300:
                checks += 1
                wrong += r.kind != PERIODIC
            else:
                if first_left is None and r.kind != PERIODIC:
                    first_left = i - 300
                if first_chaotic is None and r.kind == CHAOTIC:
                    first_chaotic = i - 300
        left.append(600 if first_left is None else first_left)
        chaotic.append(600 if first_chaotic is None else first_chaotic)
    elapsed = time.perf_counter() - started
    print(f"## Periodic -> chaotic switch, RegimeMonitor(window={window}, every={every}), "
          f"{seeds} series\n")
    print(f"non-periodic verdicts before the switch: {wrong} of {checks} "
          f"({elapsed / (seeds * 600 / every) * 1e3:.2f} ms per classification)\n")
    print("| samples after the switch until | median | p90 | max | within 50 |")
    print("|---|---|---|---|---|")
    for label, delays in (("first non-periodic verdict", left),
                          ("first chaotic verdict", chaotic)):
        within = sum(d < 50 for d in delays)
        print(f"| {label} | {statistics.median(delays):.0f} | "
              f"{np.percentile(delays, 90):.0f} | {max(delays)} | {within}/{seeds} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="seeds of the labelled suite")
    parser.add_argument("--repeats", type=int, default=21, help="timed runs per window")
    parser.add_argument("--samples", type=int, default=1_000_000,
                        help="samples for the incremental permutation entropy")
    args = parser.parse_args()
    bench_accuracy(args.seeds)
    bench_classify(args.seeds, args.repeats)
    bench_switch(3 * args.seeds, window=48, every=2)
    bench_permutation_entropy(args.samples)
    bench_zero_one(args.repeats)


if __name__ == "__main__":
    main()

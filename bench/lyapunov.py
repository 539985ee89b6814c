"""Largest Lyapunov exponent on 10,000 samples: our operator against nolds.lyap_r, same run.

For the logistic map (r=4), the Hénon map and the x component of Lorenz
(dt=0.01) it times :func:`midstream.operators.lyapunov.largest_lyapunov` called with
defaults (automatic delay, dimension, Theiler window and scaling region, plus
the confidence checks) and ``nolds.lyap_r`` given the parameters ours chose:
the same ``lag``, ``emb_dim``, ``min_tsep`` (our Theiler window),
``trajectory_len`` (the end of our scaling region + 1), ``fit_offset`` (its
start) and ``fit="poly"`` (least squares, as ours; nolds' default RANSAC needs
scikit-learn). That hands nolds our whole parameter search for free, so the
time ratio is conservative. The two are measured interleaved, median over
all runs (``--repeats`` per seed in ``--seeds``), after one untimed warm-up
call of ours (numba compilation, about a second, is excluded; with
``cache=True`` it is paid once per install). Accuracy is the relative error
against the reference exponents. ``--nolds-defaults`` adds one run of nolds
with its own defaults, for scale.

    python -m bench.lyapunov --seeds 0,1,2 --repeats 3 --nolds-defaults
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial

import nolds
import numpy as np

from midstream.operators.lyapunov import LyapunovResult, largest_lyapunov
from tests.operators.dynamical_systems import (
    HENON_LLE,
    LN2,
    LORENZ_LLE,
    henon,
    logistic,
    lorenz,
)

SYSTEMS: dict[str, tuple[Callable[[int, int], np.ndarray], float, float]] = {
    "logistic r=4": (lambda n, seed: logistic(n, seed=seed), LN2, 1.0),
    "Hénon a=1.4 b=0.3": (lambda n, seed: henon(n, seed=seed), HENON_LLE, 1.0),
    "Lorenz x, dt=0.01": (lambda n, seed: lorenz(n, dt=0.01, seed=seed), LORENZ_LLE, 0.01),
}


def nolds_like_ours(x: np.ndarray, ours: LyapunovResult, dt: float) -> float:
    start, end = ours.fit_range
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(nolds.lyap_r(x, emb_dim=ours.emb_dim, lag=ours.lag, min_tsep=ours.theiler,
                                  tau=dt, trajectory_len=end + 1, fit="poly",
                                  fit_offset=start))


def nolds_defaults(x: np.ndarray, dt: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(nolds.lyap_r(x, tau=dt, fit="poly"))


def timed(run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per seed")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated orbit seeds")
    parser.add_argument("--nolds-defaults", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    data = {(name, seed): gen(args.samples, seed)
            for name, (gen, _, _) in SYSTEMS.items() for seed in seeds}
    largest_lyapunov(henon(2000))  # warm-up: numba compilation, excluded from the timings
    ours_times: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    peer_times: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    ours_result: dict[tuple[str, int], LyapunovResult] = {}
    peer_value: dict[tuple[str, int], float] = {}
    for seed in seeds:
        for _ in range(args.repeats):
            for name, (_, _, dt) in SYSTEMS.items():
                x = data[name, seed]
                elapsed, result = timed(partial(largest_lyapunov, x, dt=dt))
                assert isinstance(result, LyapunovResult)
                ours_times[name].append(elapsed)
                ours_result[name, seed] = result
                elapsed, value = timed(partial(nolds_like_ours, x, result, dt))
                peer_times[name].append(elapsed)
                peer_value[name, seed] = float(value)  # type: ignore[arg-type]

    print(f"{args.samples} samples, seeds {args.seeds}; times are medians of "
          f"{args.repeats * len(seeds)} interleaved runs per system; numba compilation excluded "
          "(one warm-up call)\n")
    print("| system | reference | ours (auto): relative error per seed | confident "
          "| nolds.lyap_r (our params): relative error per seed | ours ms | nolds ms "
          "| speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (_, reference, _) in SYSTEMS.items():
        ours = [ours_result[name, seed] for seed in seeds]
        peer = [peer_value[name, seed] for seed in seeds]
        ours_ms = statistics.median(ours_times[name]) * 1e3
        peer_ms = statistics.median(peer_times[name]) * 1e3
        print(f"| {name} | {reference:.3f} | "
              + " ".join(f"{r.value / reference - 1:+.1%}" for r in ours)
              + f" | {sum(r.confident for r in ours)}/{len(ours)} | "
              + " ".join(f"{v / reference - 1:+.1%}" for v in peer)
              + f" | {ours_ms:.0f} | {peer_ms:.0f} | {peer_ms / ours_ms:.0f}x |")
    def mean_error(values: list[float], reference: float) -> str:
        return f"{statistics.mean(abs(v / reference - 1) for v in values):.1%}"

    print("\nmean |relative error|: " + "; ".join(
        f"{name}: ours {mean_error([ours_result[name, s].value for s in seeds], ref)}, "
        f"nolds {mean_error([peer_value[name, s] for s in seeds], ref)}"
        for name, (_, ref, _) in SYSTEMS.items()))
    print("ours chose (first seed): " + "; ".join(
        f"{name}: lag={r.lag} emb_dim={r.emb_dim} theiler={r.theiler} fit_range={r.fit_range} "
        f"r2={r.r2:.3f}" for name in SYSTEMS for r in [ours_result[name, seeds[0]]]))

    if args.nolds_defaults:
        print("\nnolds.lyap_r with its own defaults (emb_dim=10, lag and min_tsep automatic, "
              "trajectory_len=20, fit from k=0), one run on the first seed:")
        for name, (_, reference, dt) in SYSTEMS.items():
            elapsed, value = timed(partial(nolds_defaults, data[name, seeds[0]], dt))
            v = float(value)  # type: ignore[arg-type]
            print(f"  {name}: {v:.3f} ({v / reference - 1:+.1%}) in {elapsed * 1e3:.0f} ms")


if __name__ == "__main__":
    main()

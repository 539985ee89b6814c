"""Cost of DTW and SPRING against dtaidistance, measured side by side in the same run.

Each case times our operator and its peer on the same input, interleaved in the
same run (the machine is shared, so only same-run ratios mean much), and
prints the median of the repeats and the ratio ``peer / ours`` (above 1: we are
faster). Answers are compared before timing, so a fast wrong answer cannot pass.

* DTW of two series, full and banded (the headline: n = 1000, no band and a
  10 % band, radius 100): ``midstream.operators.dtw.dtw_distance`` vs dtaidistance's C
  ``dtw.distance_fast`` with ``use_pruning=False`` (its default; its ``window``
  counts the diagonal: ``radius + 1``), also in ns per matrix cell; target:
  ratio >= 2. Then ``n x 3`` series vs ``dtw_ndim.distance_fast``;
* best window of a random walk for a query: ``BestMatchSearch`` (UCR suite,
  one kernel call) vs dtaidistance ``SubsequenceSearch.align_fast`` over the
  same windows (raw values: dtaidistance does not z-normalise);
* best subsequence of any length: ``spring.best_subsequence`` and ``Spring``
  vs dtaidistance ``subsequence_alignment(...).best_match_fast()`` (a batch
  computation, not a stream monitor: the nearest thing it has);
* SPRING with a query of 100 samples, fed in batches of 1000 (target: at most
  1 µs per sample), 1-d and 3-d, and one sample per ``update`` (informative).

    python -m bench.dtw_cost --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from dtaidistance import dtw as dtai
from dtaidistance import dtw_ndim as dtai_ndim
from dtaidistance.subsequence.dtw import subsequence_alignment
from dtaidistance.subsequence.subsequencesearch import SubsequenceSearch

from midstream.operators.dtw import BestMatchSearch, Match, dtw_distance
from midstream.operators.spring import Spring, best_subsequence


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def compare(label: str, unit: str, per: int, ours: Callable[[], object],
            peer: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Interleave ``repeats`` runs of each; print medians per ``unit`` (``per`` of them a run)."""
    ours()  # warm-up: numba compiles or loads its cache here
    peer()
    ours_times, peer_times = [], []
    for _ in range(repeats):
        ours_times.append(timed(ours))
        peer_times.append(timed(peer))
    ours_us = statistics.median(ours_times) / per * 1e6
    peer_us = statistics.median(peer_times) / per * 1e6
    print(f"| {label} | {ours_us:,.2f} µs/{unit} | {peer_us:,.2f} µs/{unit} "
          f"| {peer_us / ours_us:,.2f} |", flush=True)
    return ours_us, peer_us


def random_walk(n: int, seed: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(size=n))


Pairs = list[tuple[np.ndarray, np.ndarray]]


def ours_pairs(pairs: Pairs, radius: int | None) -> list[float]:
    return [dtw_distance(a, b, window=radius) for a, b in pairs]


def peer_pairs(pairs: Pairs, radius: int | None) -> list[float]:
    window = None if radius is None else radius + 1
    if pairs[0][0].ndim == 2:
        return [dtai_ndim.distance_fast(a, b, window=window, use_pruning=False) for a, b in pairs]
    return [dtai.distance_fast(a, b, window=window, use_pruning=False) for a, b in pairs]


def band_cells(n: int, radius: int | None) -> int:
    """Cells of an n x n matrix with |i - j| <= radius."""
    if radius is None:
        return n * n
    return sum(min(n, i + radius + 1) - max(0, i - radius) for i in range(n))


def pairwise(repeats: int) -> None:
    rng = np.random.default_rng(0)
    for n, radius, dims in ((1000, None, 1), (1000, 100, 1), (256, 25, 1), (256, None, 1),
                            (1000, 100, 3)):
        shape = (n,) if dims == 1 else (n, dims)
        pairs = [(rng.normal(size=shape), rng.normal(size=shape)) for _ in range(20)]
        assert np.allclose(ours_pairs(pairs, radius), peer_pairs(pairs, radius), rtol=1e-12), \
            "DTW disagrees with dtaidistance"
        band = "no band" if radius is None else f"radius {radius}"
        label = f"DTW, n = {n}{'' if dims == 1 else f' x {dims}'}, {band}"
        ours_us, peer_us = compare(label, "pair", len(pairs), partial(ours_pairs, pairs, radius),
                                   partial(peer_pairs, pairs, radius), repeats)
        cells = band_cells(n, radius)
        print(f"|   (per cell: ours {ours_us * 1e3 / cells:.2f} ns, peer "
              f"{peer_us * 1e3 / cells:.2f} ns; {cells:,} cells) | | | |", flush=True)


def best_window(repeats: int) -> None:
    n, m, radius = 20_000, 128, 12
    walk = random_walk(n, 1)
    query = random_walk(m, 2)
    windows = [walk[s:s + m] for s in range(n - m + 1)]  # writable views: its C code needs them

    def ours() -> Match | None:
        search = BestMatchSearch(query, window=radius, normalize=False)
        search.update_many(walk)
        return search.best

    def peer() -> Any:
        search = SubsequenceSearch(query, windows, dists_options={"window": radius + 1},
                                   use_c=True)
        return search.align_fast(k=1)

    found = ours()
    their_distance, their_start = peer()[0]
    assert found is not None and found.start == their_start, "best window disagrees"
    assert np.isclose(found.distance, their_distance)
    compare(f"best window, raw, n = {n:,}, m = {m}, radius {radius}", "sample", n, ours, peer,
            repeats)

    def ours_z() -> BestMatchSearch:
        search = BestMatchSearch(query, window=radius)
        search.update_many(walk)
        return search

    search = ours_z()
    z_us = statistics.median(timed(ours_z) for _ in range(repeats)) / n * 1e6
    print(f"|   (ours z-normalised, no peer: {z_us:.2f} µs/sample; full DTW for "
          f"{search.pruning['dtw']} of {n - m + 1:,} windows) | | | |")

    def per_sample() -> None:
        update = BestMatchSearch(query, window=radius).update
        for x in walk.tolist():
            update(x)

    one_us = statistics.median(timed(per_sample) for _ in range(repeats)) / n * 1e6
    print(f"|   (ours z-normalised, `update` one sample at a time: {one_us:.2f} µs/sample) "
          "| | | |")


def best_any_length(repeats: int) -> None:
    n, m = 100_000, 64
    walk = random_walk(n, 3)
    query = random_walk(m, 4)
    ours = best_subsequence(walk, query)
    theirs = subsequence_alignment(query, walk, penalty=0.0, use_c=True).best_match_fast()
    assert np.isclose(ours.distance, theirs.distance), "subsequence DTW disagrees"
    assert ours.end == theirs.segment[1]
    compare(f"best subsequence (any length), n = {n:,}, m = {m}", "sample", n,
            lambda: best_subsequence(walk, query),
            lambda: subsequence_alignment(query, walk, penalty=0.0, use_c=True).best_match_fast(),
            repeats)
    compare(f"SPRING, one `update` of the whole series, n = {n:,}, m = {m}", "sample", n,
            lambda: Spring(query, 1.0).update(walk),
            lambda: subsequence_alignment(query, walk, penalty=0.0, use_c=True).best_match_fast(),
            repeats)

    def per_sample() -> None:
        spring = Spring(query, 1.0)
        update = spring.update
        for x in walk[:20_000].tolist():
            update(x)

    ours_us = statistics.median(timed(per_sample) for _ in range(repeats)) / 20_000 * 1e6
    print(f"|   (SPRING `update` one sample at a time, as a flow calls it: "
          f"{ours_us:.2f} µs/sample) | | | |")


def spring_query_100(repeats: int) -> None:
    """SPRING with a 100-sample query fed in batches of 1000: the target is <= 1 µs/sample."""
    n, m, batch = 100_000, 100, 1000
    for dims in (1, 3):
        rng = np.random.default_rng(6 + dims)
        walk = np.cumsum(rng.normal(size=(n, dims)), axis=0)
        query = np.cumsum(rng.normal(size=(m, dims)), axis=0)
        if dims == 1:
            walk, query = walk[:, 0].copy(), query[:, 0].copy()

        def batches(walk: np.ndarray = walk, query: np.ndarray = query) -> None:
            spring = Spring(query, 5.0)
            for at in range(0, n, batch):
                spring.update(walk[at:at + batch])

        def peer(walk: np.ndarray = walk, query: np.ndarray = query) -> Any:
            return subsequence_alignment(query, walk, penalty=0.0, use_c=True).best_match_fast()

        ours_best = best_subsequence(walk, query)
        assert np.isclose(ours_best.distance, peer().distance), "subsequence DTW disagrees"
        compare(f"SPRING, m = {m}{'' if dims == 1 else f' x {dims}'}, batches of {batch}, "
                f"n = {n:,} (peer: batch best match)", "sample", n, batches, peer, repeats)

        def per_sample(walk: np.ndarray = walk, query: np.ndarray = query) -> None:
            update = Spring(query, 5.0).update
            for x in (walk[:20_000].tolist() if walk.ndim == 1 else walk[:20_000]):
                update(x)

        one_us = statistics.median(timed(per_sample) for _ in range(repeats)) / 20_000 * 1e6
        print(f"|   (SPRING m = {m}{'' if dims == 1 else f' x {dims}'}, `update` one sample "
              f"at a time: {one_us:.2f} µs/sample) | | | |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"medians of {args.repeats} interleaved runs; ratio = peer / ours (> 1: ours faster)\n")
    print("| case | ours | peer | ratio |")
    print("|---|---:|---:|---:|")
    pairwise(args.repeats)
    best_window(args.repeats)
    best_any_length(args.repeats)
    spring_query_100(args.repeats)


if __name__ == "__main__":
    main()

"""Cost of DTW, SPRING and streaming edit-distance search, against dtaidistance and rapidfuzz.

Each case times our operator and its peer on the same input, interleaved in the
same run (the machine is shared, so only same-run ratios mean much), and
prints the median of the repeats and the ratio ``peer / ours`` (above 1: we are
faster). Answers are compared before timing, so a fast wrong answer cannot pass.

* banded DTW of two series: ``operators.dtw.dtw_distance`` vs dtaidistance's C
  ``dtw.distance_fast`` (its ``window`` counts the diagonal: ``radius + 1``);
* best window of a random walk for a query: ``BestMatchSearch`` (UCR suite,
  one kernel call) vs dtaidistance ``SubsequenceSearch.align_fast`` over the
  same windows (raw values: dtaidistance does not z-normalise);
* best subsequence of any length: ``spring.best_subsequence`` and ``Spring``
  vs dtaidistance ``subsequence_alignment(...).best_match_fast()``;
* a reference within k edits in a token stream: ``EditDistanceSearch.update``
  per token vs rapidfuzz's Levenshtein of the reference and the stream's last
  ``len(reference)`` tokens per token (what a check with the batch function
  would do; a narrower question, since it fixes the substring length).

    python -m bench.dtw_cost --repeats 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from dtaidistance import dtw as dtai
from dtaidistance.subsequence.dtw import subsequence_alignment
from dtaidistance.subsequence.subsequencesearch import SubsequenceSearch
from rapidfuzz.distance import Levenshtein

from operators.dtw import BestMatchSearch, Match, dtw_distance
from operators.sequence_distance import EditDistanceSearch
from operators.spring import Spring, best_subsequence


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


def ours_pairs(pairs: Pairs, radius: int) -> list[float]:
    return [dtw_distance(a, b, window=radius) for a, b in pairs]


def peer_pairs(pairs: Pairs, radius: int) -> list[float]:
    return [dtai.distance_fast(a, b, window=radius + 1, use_pruning=False) for a, b in pairs]


def pairwise(repeats: int) -> None:
    rng = np.random.default_rng(0)
    for n, radius in ((256, 25), (1000, 100), (256, 255)):
        pairs = [(rng.normal(size=n), rng.normal(size=n)) for _ in range(50)]
        assert np.allclose(ours_pairs(pairs, radius), peer_pairs(pairs, radius)), \
            "banded DTW disagrees with dtaidistance"
        compare(f"DTW, n = {n}, radius {radius}", "pair", len(pairs),
                partial(ours_pairs, pairs, radius), partial(peer_pairs, pairs, radius), repeats)


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
    compare(f"SPRING `update_many`, n = {n:,}, m = {m}", "sample", n,
            lambda: Spring(query, 1.0).update_many(walk),
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


def edit_search(repeats: int) -> None:
    rng = random.Random(5)
    vocabulary = [f" w{i}" for i in range(3000)]
    reference = [rng.choice(vocabulary) for _ in range(80)]
    stream = [rng.choice(vocabulary) for _ in range(20_000)]
    stream[10_000:10_080] = reference
    stream[10_040] = " typo"
    m, k = len(reference), 8

    def ours() -> list[int]:
        search = EditDistanceSearch(reference, k)
        return [t for t, token in enumerate(stream) if search.update(token) is not None]

    def peer() -> list[int]:
        found, inside = [], False
        for t in range(len(stream)):
            hit = Levenshtein.distance(reference, stream[max(0, t - m + 1):t + 1],
                                       score_cutoff=k) <= k
            if hit and not inside:
                found.append(t)
            inside = hit
        return found

    ours_found, peer_found = ours(), peer()
    assert ours_found and 10_000 <= ours_found[0] < 10_080, "reference not found"
    print(f"|   (reference planted at tokens 10,000..10,079 with one substitution: reported at "
          f"token {ours_found} by ours, {peer_found} by the peer) | | | |")
    compare(f"reference within {k} edits, m = {m} tokens", "token", len(stream), ours, peer,
            repeats)


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
    edit_search(args.repeats)


if __name__ == "__main__":
    main()

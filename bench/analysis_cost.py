"""Per-event cost of each part of the analysis, in process (no Kafka, no Bytewax).

Splits the job's per-event Python work into its parts on the benchmark
workload, so the throughput figures in RESULTS.md can be explained. The peer
is the cheapest possible step, ``orjson.loads`` of the same payloads.

    python -m bench.analysis_cost --events 200000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from bench.workload import interleaved
from flows.stream_analysis import StreamAnalyzer
from midstream.events import TokenEvent, parse_token_event
from operators.repetition import RepetitionDetector
from operators.text_rules import TextScanState


def per_event(label: str, n: int, run: Callable[[], object], repeats: int = 3) -> float:
    best = min(_timed(run) for _ in range(repeats))
    micros = best / n * 1e6
    print(f"{label:<46} {micros:6.2f} µs/event")
    return micros


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    payloads = [value for _, value in interleaved(args.events, args.streams)]
    events = [e for e in map(parse_token_event, payloads) if isinstance(e, TokenEvent)]
    deltas = [e for e in events if e.kind == "delta"]
    n = len(payloads)
    analyzer = StreamAnalyzer.with_defaults()
    print(f"{n} events, {len(deltas)} deltas, {args.streams} concurrent streams; "
          "best of 3 runs\n")

    peer = per_event("peer: orjson.loads", n, lambda: [orjson.loads(p) for p in payloads])
    parse = per_event("parse + validate (msgspec)", n,
                      lambda: [parse_token_event(p) for p in payloads])

    def scan() -> None:
        states: dict[str, TextScanState] = {}
        for e in deltas:
            state = states.get(e.stream_id) or states.setdefault(e.stream_id, TextScanState())
            analyzer.rules.scan(state, e.text or "")

    def loops() -> None:
        detectors: dict[str, RepetitionDetector] = {}
        for e in deltas:
            detector = detectors.get(e.stream_id)
            if detector is None:
                detector = detectors[e.stream_id] = RepetitionDetector()
            detector.update(e.text or "")

    def whole() -> None:
        states: dict = {}
        for e in events:
            state = states.get(e.stream_id)
            if state is None or state.ended:
                state = states[e.stream_id] = analyzer.new_state(e.stream_id)
            analyzer.on_event(state, e, 0.0)

    rules = per_event("rule scan (Aho-Corasick + anchored regexes)", n, scan)
    loop = per_event("repetition-loop detector", n, loops)
    total = per_event("whole analysis (health, rules, loop, metrics)", n, whole)
    print(f"\nparse + analysis = {parse + total:.2f} µs/event "
          f"({(parse + total) / peer:.1f}x the peer); "
          f"glue and metrics = {total - rules - loop:.2f} µs/event")


if __name__ == "__main__":
    main()

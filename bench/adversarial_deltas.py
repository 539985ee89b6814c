"""Worst time per adversarial delta through the job's per-event analysis, in process.

Each case is a token stream whose deltas were built to hurt: long runs without
spaces, repeated near-matches of the bundled PII rules, 64 KB of one
character, huge, tiny and subnormal numbers as ``ts`` and ``logprob``. Every
delta is a JSON message up to the job's size limit (``MIDSTREAM_MAX_EVENT_BYTES``,
64 KB), parsed and validated as the job does, then timed through
``StreamAnalyzer.on_event`` with the bundled rules and default settings (health,
rules, repetition loops, regime, Lyapunov exponent, records). Text deltas are
each timed on a fresh stream and again after a 60 KB prose delta.

The peers, in the same run: 60 KB of prose through the same analysis, and
the old backtracking ``re`` rule scan (``tests/operators/backtracking_rules.py``)
on the same text deltas, alone.

    python -m bench.adversarial_deltas --repeats 5               # CPU time per delta
    python -m bench.adversarial_deltas --repeats 5 --clock wall  # on a quiet machine
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterator

import orjson

from midstream.core.config import BUNDLED_RULES
from midstream.core.events import DEFAULT_MAX_EVENT_BYTES, TokenEvent, parse_token_event
from midstream.core.rules_file import load_rules
from midstream.flows.stream_analysis import StreamAnalyzer
from midstream.operators.text_rules import TextScanState
from tests.operators.backtracking_rules import BacktrackingRuleSet

TEXT_BYTES = DEFAULT_MAX_EVENT_BYTES - 200  # room for the JSON envelope
WORDS = ("the", "model", "answered", "a", "question", "about", "weather", "and", "then",
         "explained", "why", "sky", "looks", "blue", "in", "afternoon")


def prose(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:n]


def fit(unit: str, n: int = TEXT_BYTES) -> str:
    return (unit * (n // len(unit) + 1))[:n]


TEXT_CASES: dict[str, Callable[[], str]] = {
    "64 KB of one character": lambda: "a" * TEXT_BYTES,
    "letters then @ (email backtracking)": lambda: "a" * (TEXT_BYTES - 1) + "@",
    "x@ + a. repeated (domain backtracking)": lambda: "x@" + fit("a.", TEXT_BYTES - 2),
    "digits without spaces": lambda: "1" * TEXT_BYTES,
    "digit-space runs (card near-misses)": lambda: fit("1 ", TEXT_BYTES),
    "phone near-misses": lambda: fit("555-123-456 ", TEXT_BYTES),
    "email near-misses a@b.": lambda: fit("a@b.", TEXT_BYTES),
    "real emails back to back": lambda: fit("a@b.cc ", TEXT_BYTES),
    "sk- near-misses": lambda: fit("sk-abcdefghij ", TEXT_BYTES),
    "one long non-ASCII word": lambda: "é" * (TEXT_BYTES // 2),
    "64 KB of @": lambda: "@" * TEXT_BYTES,
    "one refusal phrase, repeated": lambda: fit("i can't help with ", TEXT_BYTES),
    "60 KB of prose (peer)": lambda: prose(60_000),
}

NUMBER_CASES: dict[str, Callable[[int], tuple[float, float | None]]] = {
    "ts = 1e300": lambda i: (1e300, None),
    "ts = 1e300 + i*1e290": lambda i: (1e300 + i * 1e290, None),
    "ts = 1e-300 * i": lambda i: (1e-300 * i, None),
    "ts = subnormal * i": lambda i: (5e-324 * i, None),
    "ts = 2**62 + i": lambda i: (float(2**62 + i), None),
    "ts alternating 0 / 1e300": lambda i: (0.0 if i % 2 else 1e300, None),
    "logprob = ±1e300": lambda i: (100.0 + i * 0.05, 1e300 if i % 2 else -1e300),
    "logprob = subnormal": lambda i: (100.0 + i * 0.05, 5e-324 * (i % 7)),
    "normal stream (peer)": lambda i: (100.0 + i * 0.05 + (i % 3) * 0.01, -0.5 - (i % 5) * 0.1),
}


def message(stream: str, seq: int, ts: float, kind: str, text: str | None = None,
            logprob: float | None = None) -> bytes:
    body: dict[str, object] = {"v": 1, "stream_id": stream, "seq": seq, "ts": ts, "kind": kind}
    if text is not None:
        body["text"] = text
    if logprob is not None:
        body["logprob"] = logprob
    return orjson.dumps(body)


def parsed(payload: bytes) -> TokenEvent:
    event = parse_token_event(payload)
    if not isinstance(event, TokenEvent):
        raise SystemExit(f"the job would reject this event: {event.error}")
    return event


def timed(run: Callable[[], object]) -> float:
    """Return the thread's CPU seconds for ``run`` (see ``--clock``)."""
    clock = CLOCK[0]
    started = clock()
    run()
    return clock() - started


# CPU time of this thread by default: on a shared machine, wall time also counts the
# time other processes held the core, which says nothing about the analysis.
CLOCK: list[Callable[[], float]] = [time.thread_time]


def text_case(analyzer: StreamAnalyzer, text: str, repeats: int) -> list[float]:
    """Time one delta, on a fresh stream and after a 60 KB prose delta."""
    times = []
    before = prose(60_000, seed=2)
    for r in range(repeats):
        for warm in (False, True):
            stream = f"s{r}{warm}"
            state = analyzer.new_state(stream)
            analyzer.on_event(state, parsed(message(stream, 0, 100.0, "start")), 100.0)
            seq = 1
            if warm:
                analyzer.on_event(state, parsed(message(stream, 1, 100.1, "delta", before)), 100.1)
                seq = 2
            event = parsed(message(stream, seq, 100.2, "delta", text))
            times.append(timed(lambda: analyzer.on_event(state, event, 100.2)))  # noqa: B023
    return times


def number_case(analyzer: StreamAnalyzer, values: Callable[[int], tuple[float, float | None]],
                deltas: int) -> list[float]:
    state = analyzer.new_state("n")
    analyzer.on_event(state, parsed(message("n", 0, values(0)[0], "start")), 0.0)
    times = []
    for i in range(1, deltas + 1):
        ts, logprob = values(i)
        event = parsed(message("n", i, ts, "delta", " tok", logprob))
        times.append(timed(lambda: analyzer.on_event(state, event, 0.0)))  # noqa: B023
    return times


def rows(args: argparse.Namespace) -> Iterator[tuple[str, list[float], float | None]]:
    analyzer = StreamAnalyzer.with_defaults()
    # Warm up: numba compiles the series kernels on first use, once per process.
    number_case(analyzer, NUMBER_CASES["normal stream (peer)"], args.number_deltas)
    text_case(analyzer, prose(1000) + " bob@example.org 4111 1111 1111 1111", 1)
    old = BacktrackingRuleSet(load_rules(BUNDLED_RULES))
    for name, make in TEXT_CASES.items():
        text = make()
        peer = None
        if args.peer and len(text.encode()) <= args.peer_max_bytes:
            peer = timed(lambda: old.scan(TextScanState(), text))  # noqa: B023
        yield name, text_case(analyzer, text, args.repeats), peer
    for name, values in NUMBER_CASES.items():
        yield name, number_case(analyzer, values, args.number_deltas), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5,
                        help="fresh and warm streams per text case")
    parser.add_argument("--number-deltas", type=int, default=3000,
                        help="deltas per numeric case (the series analysis runs every few)")
    parser.add_argument("--no-peer", dest="peer", action="store_false",
                        help="skip the old backtracking scan (seconds per delta)")
    parser.add_argument("--peer-max-bytes", type=int, default=DEFAULT_MAX_EVENT_BYTES)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time each delta by this thread's CPU time or by the wall clock")
    args = parser.parse_args()
    CLOCK[0] = time.thread_time if args.clock == "cpu" else time.perf_counter
    print(f"clock: {args.clock}")
    print(f"{'case':<42} {'worst ms':>9} {'median ms':>10} {'old re scan ms':>15}")
    worst_all = 0.0
    for name, times, peer in rows(args):
        worst = max(times) * 1e3
        worst_all = max(worst_all, worst)
        peer_text = "" if peer is None else f"{peer * 1e3:15.1f}"
        print(f"{name:<42} {worst:9.2f} {statistics.median(times) * 1e3:10.3f} {peer_text}",
              flush=True)
    print(f"worst time per delta, every case: {worst_all:.2f} ms (target <= 50 ms)")


if __name__ == "__main__":
    main()

"""Worst time of one event in a fresh job when a stream's first odd delta is ``ts = 1e300``.

Each run is a new process (a job just started): one stream of 400 deltas, the
150th stamped 1e300, through the LLM-stream analyzer, with and without
:meth:`~midstream.flows.stream_analysis.StreamAnalyzer.warm_up` (what
``midstream.flows.llm_stream`` now calls at start). The peer is the same
stream without the odd delta, in a warm process.

    python -m bench.far_future_delta --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """
import sys, time
from midstream.core import events
from midstream.flows.stream_analysis import StreamAnalyzer

analyzer = StreamAnalyzer.with_defaults()
started = time.perf_counter()
if sys.argv[1] != "cold":
    analyzer.warm_up()
warm_up = time.perf_counter() - started
state = analyzer.new_state("s")
analyzer.on_event(state, events.TokenEvent(v=1, stream_id="s", seq=0, ts=100.0, kind="start"),
                  100.0)
worst = 0.0
for seq in range(1, 400):
    odd = seq == 150 and sys.argv[1] != "plain"
    ts = 1e300 if odd else 100 + seq * 0.05
    event = events.TokenEvent(v=1, stream_id="s", seq=seq, ts=ts, kind="delta", text="tok ")
    started = time.perf_counter()
    analyzer.on_event(state, event, 100 + seq * 0.05)
    worst = max(worst, time.perf_counter() - started)
print(worst, warm_up)
"""


def run(mode: str) -> tuple[float, float]:
    """Return (worst event seconds, warm-up seconds) of one fresh process."""
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    """Print the median worst event time per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for mode, label in (("cold", "no warm-up (before)"), ("warm", "warm_up() at start (now)"),
                        ("plain", "peer: no odd delta, warm")):
        runs = [run(mode) for _ in range(args.repeats)]
        worst = statistics.median(r[0] for r in runs) * 1000
        start = statistics.median(r[1] for r in runs) * 1000
        print(f"{label:28s} worst event {worst:8.1f} ms   warm-up at start {start:7.1f} ms")


if __name__ == "__main__":
    main()

"""Peak resident memory of the job with 10,000 concurrent open streams.

Each stream gets a start event and 60 deltas and never ends, so at the end of
the input every stream's state is live, with its text window and loop ring
full. The job reads everything (``MIDSTREAM_TAIL=false``) and exits; the peak
RSS comes from ``wait4``. Peers in the same run: the same job over an empty
topic (the fixed cost of Python, Bytewax and the libraries), and the engine-only
peer flow over the same input.

    python -m bench.open_streams_rss --streams 10000
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from bench.common import broker, fresh_topics, job_env, produce_all, run_to_end
from bench.workload import PIECES, stream_payloads


def open_streams(n: int, deltas: int) -> Iterator[tuple[bytes, bytes]]:
    """Round-robin over n streams: each a start plus ``deltas`` deltas, never an end."""
    texts = [p for p, _ in PIECES]
    streams = []
    for i in range(n):
        pieces = (texts[i % len(texts)] * 4)[:deltas]
        streams.append((f"open-{i}".encode(), stream_payloads(f"open-{i}", pieces, 1.7e9 + i,
                                                             end=False)))
    for position in range(deltas + 1):
        for key, payloads in streams:
            yield key, payloads[position]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--deltas", type=int, default=60)
    args = parser.parse_args()
    with broker(args.brokers) as brokers:
        data = fresh_topics(brokers, 4)
        empty = fresh_topics(brokers, 4)
        produced = produce_all(brokers, data.tokens, open_streams(args.streams, args.deltas))
        timers = {"MIDSTREAM_ABANDON_SECONDS": "3600", "MIDSTREAM_STALL_SECONDS": "3600"}
        _, idle = run_to_end("midstream.flows.llm_stream", job_env(brokers, empty, **timers))
        _, peer = run_to_end("bench.peer_flow", job_env(brokers, data, **timers))
        _, ours = run_to_end("midstream.flows.llm_stream", job_env(brokers, data, **timers))
        mb = 1024
        print(f"{produced} events, {args.streams} open streams at the end")
        print(f"job, empty topic (fixed cost):        {idle / mb:7.1f} MB peak RSS")
        print(f"peer: bytewax parse+key, same input:  {peer / mb:7.1f} MB peak RSS")
        print(f"midstream flows.llm_stream:                     {ours / mb:7.1f} MB peak RSS")
        print(f"per open stream: {(ours - idle) / args.streams:.1f} kB above the fixed cost; "
              f"target <= 500 MB: {'MET' if ours / mb <= 500 else 'NOT MET'}")


if __name__ == "__main__":
    main()

"""End-to-end throughput of midstream.flows.llm_stream through the real broker, 1 worker and 2 processes.

Token events are produced to a topic first; then the job reads them all
(``MIDSTREAM_TAIL=false``), runs every default detector, writes insights and
control events back to Kafka, and exits. Throughput = events / (run time -
start-up time), where start-up time is a run over an empty topic. The peer,
``bench/peer_flow.py``, is Bytewax reading and parsing the same topic with no
analysis, measured in the same run.

    python -m bench.throughput --events 1000000 --repeats 3
"""

from __future__ import annotations

import argparse

from bench.common import broker, fresh_topics, job_env, median, produce_all, run_to_end
from bench.workload import interleaved


def measure(brokers: str, module: str, processes: int, events: int, repeats: int,
            partitions: int, topics_with_data: object, empty: object) -> tuple[float, float]:
    """(median events/s, median start-up seconds)."""
    rates, startups = [], []
    for _ in range(repeats):
        startup, _ = run_to_end(module, job_env(brokers, empty), processes)  # type: ignore[arg-type]
        elapsed, _ = run_to_end(module, job_env(brokers, topics_with_data), processes)  # type: ignore[arg-type]
        startups.append(startup)
        rates.append(events / max(elapsed - startup, 1e-9))
    return median(rates), median(startups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=1000, help="concurrent open streams")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with broker(args.brokers) as brokers:
        data = fresh_topics(brokers, args.partitions)
        empty = fresh_topics(brokers, args.partitions)
        produced = produce_all(brokers, data.tokens, interleaved(args.events, args.streams))
        print(f"produced {produced} token events over {args.partitions} partitions, "
              f"{args.streams} concurrent streams")
        rows = []
        for label, module, processes in [
            ("peer: bytewax parse+key only, 1 worker", "bench.peer_flow", 1),
            ("midstream llm_stream, 1 worker", "midstream.flows.llm_stream", 1),
            ("peer: bytewax parse+key only, 2 processes", "bench.peer_flow", 2),
            ("midstream llm_stream, 2 processes", "midstream.flows.llm_stream", 2),
        ]:
            rate, startup = measure(brokers, module, processes, produced, args.repeats,
                                    args.partitions, data, empty)
            rows.append((label, rate, startup))
            print(f"{label:<45} {rate:>10,.0f} events/s  (start-up {startup:.2f} s)", flush=True)
        peer1, ours1, peer2, ours2 = (r[1] for r in rows)
        print(f"\nratio midstream/peer: 1 worker {ours1 / peer1:.2f}, 2 processes "
              f"{ours2 / peer2:.2f}; midstream 2 processes / 1 worker {ours2 / ours1:.2f}")
        print(f"target >= 100,000 events/s: 1 worker {'MET' if ours1 >= 1e5 else 'NOT MET'}, "
              f"2 processes {'MET' if ours2 >= 1e5 else 'NOT MET'}")


if __name__ == "__main__":
    main()

"""Shared helpers for benchmarks: a broker, topics, producing, and running the job."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Producer

from midstream.core.config import Topics
from midstream.stack import create_topics, read_state, start_kafka, stop_kafka
from midstream.stack.process import free_port

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def broker(brokers: str | None = None) -> Iterator[str]:
    """The given brokers, the running local stack's, or a private broker for this run."""
    if brokers:
        yield brokers
        return
    state = read_state()
    if state is not None and state.kafka.is_running():
        yield state.brokers
        return
    private = start_kafka(port=0)
    try:
        yield private.brokers
    finally:
        stop_kafka(private)


def fresh_topics(brokers: str, partitions: int) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(*(f"bench.{name}.{suffix}" for name in
                      ("tokens", "insights", "control", "feedback", "dlq")))
    create_topics(brokers, topics.all(), partitions)
    return topics


def produce_all(brokers: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> int:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000,
                         "compression.type": "lz4"})
    count = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    return count


def job_env(brokers: str, topics: Topics, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDSTREAM_")}
    return {**env, **topics.to_env(), "MIDSTREAM_BROKERS": brokers, "PYTHONPATH": str(REPO),
            **extra}


def run_to_end(module: str, env: dict[str, str], processes: int = 1) -> tuple[float, int]:
    """Run ``python -m bytewax.run module`` to the end of its input; (seconds, peak RSS kB).

    With ``processes`` > 1, that many processes form one Bytewax cluster.
    """
    env = {**env, "MIDSTREAM_TAIL": "false"}
    command = [sys.executable, "-m", "bytewax.run", module]
    if processes > 1:
        addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
        commands = [[*command, "-i", str(i), "-a", addresses] for i in range(processes)]
    else:
        commands = [command]
    started = time.perf_counter()
    children = [subprocess.Popen(c, env=env, cwd=REPO) for c in commands]
    watchers = [PeakRss(child.pid) for child in children]
    for command, child in zip(commands, children, strict=True):
        if child.wait() != 0:
            raise RuntimeError(f"{' '.join(command)} exited {child.returncode}")
    elapsed = time.perf_counter() - started
    return elapsed, max(w.stop() for w in watchers)


class PeakRss(threading.Thread):
    """Polls a process's VmHWM (its peak resident set) until it exits.

    ``wait4``'s ``ru_maxrss`` would not do: a forked child starts with its
    parent's high-water mark, so a big benchmark process hides the job's own.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.path = f"/proc/{pid}/status"
        self.interval = interval
        self.peak_kb = 0
        self._done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                with open(self.path) as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(self.interval)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kb


def median(values: list[float]) -> float:
    return statistics.median(values)

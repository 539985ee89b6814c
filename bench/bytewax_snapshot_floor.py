"""The pause Bytewax 0.21 itself causes when it snapshots many keys: the floor under ours.

A bare flow (no MidStream code) feeds ``keys`` keys round robin, 50 every
5 ms, through a ``stateful_batch`` step whose logic does nothing and
snapshots the same constant bytes (``value_bytes``) for every key, with a
recovery directory and an epoch every 2 s, so every epoch snapshots every key.
A map step before it records the gap between consecutive items: the longest
gap is the worker's pause at an epoch boundary, where Bytewax serialises the
snapshots and writes them to its SQLite store. Without recovery the same flow
shows the gaps the machine alone makes.

    python -m bench.bytewax_snapshot_floor --keys 10000 --value-bytes 4000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition

REPO = Path(__file__).resolve().parent.parent
RUN_SECONDS = 16.0


class _RoundRobin(StatelessSourcePartition[str]):
    def __init__(self, keys: int) -> None:
        self._keys = keys
        self._next = 0
        self._started = time.monotonic()
        self._awake: datetime | None = None

    def next_batch(self) -> list[str]:
        if time.monotonic() - self._started > RUN_SECONDS:
            raise StopIteration()
        self._awake = datetime.now(UTC) + timedelta(milliseconds=5)
        batch = [f"k{(self._next + j) % self._keys}" for j in range(50)]
        self._next += 50
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake


class _Source(DynamicSource[str]):
    def __init__(self, keys: int) -> None:
        self._keys = keys

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RoundRobin:
        return _RoundRobin(self._keys)


class _Idle(op.StatefulBatchLogic[str, None, bytes]):
    def __init__(self, value: bytes) -> None:
        self._value = value

    def on_batch(self, values: list[str]) -> tuple[list[None], bool]:
        return [], self.RETAIN

    def snapshot(self) -> bytes:
        return self._value


def _flow() -> Dataflow:
    """The bare flow, configured by ``FLOOR_KEYS`` and ``FLOOR_VALUE_BYTES``; prints the gaps."""
    keys = int(os.environ["FLOOR_KEYS"])
    value = b"x" * int(os.environ["FLOOR_VALUE_BYTES"])
    gaps: list[float] = []
    last: list[float] = []

    def record_gap(item: str) -> str:
        now = time.perf_counter()
        if last:
            gaps.append(now - last[0])
            last[0] = now
        else:
            last.append(now)
        return item

    import atexit

    atexit.register(lambda: print(f"longest gap {max(gaps, default=0.0):.6f}"))
    flow = Dataflow("snapshot_floor")
    items = op.map("gap", op.input("in", flow, _Source(keys)), record_gap)
    keyed = op.key_on("key", items, lambda item: item)
    op.inspect("out", op.stateful_batch("idle", keyed, lambda resume: _Idle(value)))
    return flow


def __getattr__(name: str) -> Any:
    if name == "flow":
        return _flow()
    raise AttributeError(name)


def floor_pause(keys: int, value_bytes: int, recovery: bool = True) -> float:
    """Run the bare flow; return its longest pause in seconds."""
    env = {**os.environ, "FLOOR_KEYS": str(keys), "FLOOR_VALUE_BYTES": str(value_bytes),
           "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="bytewax-floor-") as directory:
        args: list[str] = []
        if recovery:
            subprocess.run([sys.executable, "-m", "bytewax.recovery", directory, "1"],
                           check=True, cwd=REPO)
            args = ["-r", directory, "-s", "2", "-b", "30"]
        done = subprocess.run([sys.executable, "-m", "bytewax.run",
                               "bench.bytewax_snapshot_floor", *args],
                              env=env, cwd=REPO, capture_output=True, text=True, check=True,
                              timeout=RUN_SECONDS + 120)
    line = [x for x in done.stdout.splitlines() if x.startswith("longest gap ")][-1]
    return float(line.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--value-bytes", type=int, nargs="+", default=[100, 1000, 4000])
    args = parser.parse_args()
    print(f"bare Bytewax flow, {args.keys} keys each touched in every 2 s epoch")
    print(f"  no recovery: longest gap {floor_pause(args.keys, 100, recovery=False) * 1000:.0f} ms")
    for size in args.value_bytes:
        print(f"  recovery, {size:>6} B per key: longest gap "
              f"{floor_pause(args.keys, size) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

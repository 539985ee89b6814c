"""The peer for throughput: Bytewax reading the same topic, parsing JSON, keyed counting.

It is the skeleton of ``midstream.flows.llm_stream`` (Kafka in, JSON parse, key by
stream, per-stream state) with no analysis and no output, so the ratio
"MidStream / peer" says what the detectors cost on top of the engine.

Run: ``python -m bytewax.run bench.peer_flow`` with the MIDSTREAM_* environment.
"""

from __future__ import annotations

import os
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from midstream.core.config import KafkaSettings, Topics


class _Discard(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class DiscardSink(DynamicSink[Any]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Discard:
        return _Discard()


class _Count(op.StatefulBatchLogic[Any, Any, int]):
    def __init__(self, resume: int | None) -> None:
        self.count = resume or 0

    def on_batch(self, values: list[Any]) -> tuple[list[Any], bool]:
        self.count += len(values)
        return [], False

    def snapshot(self) -> int:
        return self.count


def _parse(message: Any) -> Any:
    return orjson.loads(message.value)


def peer_flow() -> Dataflow:
    kafka = KafkaSettings.from_env(os.environ)
    topics = Topics.from_env(os.environ)
    flow = Dataflow("peer")
    raw = op.input("in", flow, KafkaSource(kafka.brokers, [topics.tokens], tail=kafka.tail,
                                           batch_size=kafka.batch_size))
    parsed = op.map("parse", raw, _parse)
    keyed = op.key_on("key", parsed, lambda e: e["stream_id"])
    counted = op.stateful_batch("count", keyed, _Count)
    op.output("out", counted, DiscardSink())
    return flow


def __getattr__(name: str) -> Any:
    if name == "flow":
        return peer_flow()
    raise AttributeError(name)

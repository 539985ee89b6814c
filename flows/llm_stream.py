"""The LLM-stream dataflow: token events in; insights, control events and dead letters out.

Shape::

    tokens_in -> parse -> valid? -no--------------------------------> dead letters -+
                            |yes                                                    |
                            v                                                       v
                        by_stream -> analyse (per-stream state, timers) -> emit -> out

The source yields Kafka messages (``KafkaSourceMessage``, or ``KafkaError``)
and the sink takes ``KafkaSinkMessage`` whose ``topic`` says where it goes. So
the same flow runs against Kafka (``python -m bytewax.run flows.llm_stream``),
in tests (``bytewax.testing``) and in the demo: only the source and sink differ.

Run against Kafka (settings from the environment, see the README)::

    python -m bytewax.run flows.llm_stream
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import (
    KafkaError,
    KafkaSink,
    KafkaSinkMessage,
    KafkaSource,
    KafkaSourceMessage,
)
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from flows.stream_analysis import Output, StreamAnalyzer, StreamState
from midstream import events
from midstream.config import AnalysisConfig, KafkaSettings, Topics
from midstream.metrics import LlmStreamMetrics, default_metrics
from midstream.rules_file import load_rules

RawMessage = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[Any, Any]
OutMessage = KafkaSinkMessage[bytes | None, bytes]
Clock = Callable[[], float]


class DeadLetterRouter:
    """Parses raw messages; what fails becomes a dead-letter message, never an exception."""

    def __init__(self, topics: Topics, metrics: LlmStreamMetrics, max_bytes: int,
                 clock: Clock) -> None:
        self.topics = topics
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.clock = clock

    def __call__(self, message: RawMessage) -> events.TokenEvent | OutMessage:
        if isinstance(message, KafkaError):
            source = message.msg
            return self._dead(source, "kafka_error", f"consumer error: {message.err}")
        parsed = events.parse_token_event(message.value, max_bytes=self.max_bytes)
        if isinstance(parsed, events.Invalid):
            return self._dead(message, parsed.reason, parsed.error)
        return parsed

    def _dead(self, message: KafkaSourceMessage[Any, Any], reason: str, error: str) -> OutMessage:
        self.metrics.dead_letters.labels(reason).inc()
        value = message.value if isinstance(message.value, bytes) else None
        key = message.key if isinstance(message.key, bytes) else None
        record = events.dead_letter(
            ts=self.clock(), source_topic=message.topic, partition=message.partition,
            offset=message.offset, reason=reason, error=error, payload=value, key=key,
        )
        return KafkaSinkMessage(key=key, value=events.encode(record), topic=self.topics.dlq)


class StreamLogic(op.StatefulBatchLogic[events.TokenEvent, OutMessage, bytes]):
    """Bytewax glue for one stream: feeds events and timers to the :class:`StreamAnalyzer`.

    The snapshot is the pickled :class:`StreamState`: immutable bytes, as
    Bytewax requires, and cheap to take.
    """

    def __init__(self, analyzer: StreamAnalyzer, topics: Topics, clock: Clock,
                 state: StreamState | None) -> None:
        self.analyzer = analyzer
        self.topics = topics
        self.clock = clock
        self.state = state

    def _messages(self, outputs: Iterable[Output]) -> list[OutMessage]:
        assert self.state is not None
        key = self.state.stream_id.encode()
        topic_of = {"insights": self.topics.insights, "control": self.topics.control}
        return [
            KafkaSinkMessage(key=key, value=events.encode(record), topic=topic_of[kind])
            for kind, record in outputs
        ]

    def on_batch(self, values: list[events.TokenEvent]) -> tuple[list[OutMessage], bool]:
        now = self.clock()
        if self.state is None:
            self.state = self.analyzer.new_state(values[0].stream_id)
        outputs: list[Output] = []
        for event in values:
            outputs.extend(self.analyzer.on_event(self.state, event, now))
        return (self._messages(outputs) if outputs else []), self.RETAIN

    def on_notify(self) -> tuple[list[OutMessage], bool]:
        assert self.state is not None
        outputs, discard = self.analyzer.on_timer(self.state, self.clock())
        return self._messages(outputs), (self.DISCARD if discard else self.RETAIN)

    def on_eof(self) -> tuple[list[OutMessage], bool]:
        # Input ended (a bounded replay): keep state so timers still fire if the flow lives on.
        return [], self.RETAIN

    def notify_at(self) -> datetime | None:
        assert self.state is not None
        return datetime.fromtimestamp(self.analyzer.next_timer(self.state), UTC)

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)


def build_flow(
    source: Source[RawMessage],
    sink: Sink[OutMessage],
    *,
    analyzer: StreamAnalyzer | None = None,
    topics: Topics | None = None,
    clock: Clock = time.time,
    flow_id: str = "llm_stream",
) -> Dataflow:
    """Wire the LLM-stream analysis between ``source`` and ``sink``.

    Parameters
    ----------
    source
        Yields ``KafkaSourceMessage`` (value = JSON bytes of a token event) or ``KafkaError``.
    sink
        Receives ``KafkaSinkMessage`` for the insights, control and dead-letter topics.
    analyzer
        Shared analysis (config, rules, metrics). Defaults to the environment's
        config and the process-wide metrics.
    topics
        Output topic names.
    clock
        Processing-time clock (seconds since the epoch) for timers.

    Examples
    --------
    >>> from bytewax.testing import TestingSink, TestingSource, run_main
    >>> lines = [b'{"v":1,"stream_id":"a","seq":0,"ts":1,"kind":"delta","text":"x"}', b"oops"]
    >>> out = []
    >>> msgs = [KafkaSourceMessage(key=None, value=v, topic="t", offset=i, partition=0)
    ...         for i, v in enumerate(lines)]
    >>> run_main(build_flow(TestingSource(msgs), TestingSink(out),
    ...                     analyzer=StreamAnalyzer.with_defaults()))
    >>> [m.topic for m in out]
    ['midstream.dlq']
    """
    topics = topics or Topics.from_env()
    if analyzer is None:
        config = AnalysisConfig.from_env()
        analyzer = StreamAnalyzer(config, load_rules(config.rules_path), default_metrics())
    router = DeadLetterRouter(topics, analyzer.metrics, analyzer.config.max_event_bytes, clock)

    def is_event(item: events.TokenEvent | OutMessage) -> bool:
        return isinstance(item, events.TokenEvent)

    def build_logic(resume: bytes | None) -> StreamLogic:
        state = None if resume is None else pickle.loads(resume)
        return StreamLogic(analyzer, topics, clock, state)

    flow = Dataflow(flow_id)
    raw = op.input("tokens_in", flow, source)
    parsed = op.map("parse", raw, router)
    valid = op.branch("valid", parsed, is_event)
    by_stream = op.key_on("by_stream", valid.trues, _stream_id)
    emitted = op.stateful_batch("analyse", by_stream, build_logic)
    results = op.key_rm("emit", emitted)
    op.output("out", op.merge("with_dead_letters", results, valid.falses), sink)
    return flow


def _stream_id(event: events.TokenEvent) -> str:
    return event.stream_id


def kafka_flow(env: dict[str, str] | None = None) -> Dataflow:
    """The production flow: Kafka in and out, configured from the environment."""
    import os

    env = dict(os.environ) if env is None else env
    kafka = KafkaSettings.from_env(env)
    topics = Topics.from_env(env)
    offsets = {"earliest": -2, "latest": -1}
    if kafka.starting_offset not in offsets:
        raise ValueError("MIDSTREAM_STARTING_OFFSET must be 'earliest' or 'latest'")
    extra = dict(kafka.extra)
    source = KafkaSource(
        kafka.brokers, [topics.tokens], tail=kafka.tail,
        starting_offset=offsets[kafka.starting_offset], add_config=extra,
        batch_size=kafka.batch_size, raise_on_errors=False,
    )
    producer_config = {"linger.ms": "2", **extra}
    sink: KafkaSink = KafkaSink(kafka.brokers, topic=None, add_config=producer_config)
    config = AnalysisConfig.from_env(env)
    analyzer = StreamAnalyzer(config, load_rules(config.rules_path), default_metrics())
    return build_flow(source, sink, analyzer=analyzer, topics=topics)


def __getattr__(name: str) -> Any:
    # `python -m bytewax.run flows.llm_stream` looks up `flow`; building it lazily keeps
    # importing this module free of side effects (tests import it without Kafka).
    if name == "flow":
        return kafka_flow()
    raise AttributeError(name)

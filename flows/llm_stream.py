"""The LLM-stream dataflow: token events in; insights, control events and dead letters out.

Shape::

    tokens_in -> key_by_stream -> routed? -no------------------------------> dead letters -+
                                    |yes (key, raw bytes)                                  |
                                    v                                                      v
                                analyse (parse, per-stream state, timers) -> emit -------> out

The source yields raw Kafka messages (:class:`midstream.connectors.kafka.RawMessage`;
Bytewax's own ``KafkaSourceMessage`` and ``KafkaError`` work too) and the sink
takes ``KafkaSinkMessage`` whose ``topic`` says where it goes. So
the same flow runs against Kafka (``python -m bytewax.run midstream.flows.llm_stream``),
in tests (``bytewax.testing``) and in the demo: only the source and sink differ.

Run against Kafka (settings from the environment, see the README)::

    python -m bytewax.run midstream.flows.llm_stream
"""

from __future__ import annotations

import functools
import gc
import os
import time
from collections.abc import Mapping
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from midstream.core import events
from midstream.core.config import AnalysisConfig, Topics
from midstream.core.metrics import default_metrics
from midstream.flows.routing import (
    Clock,
    DeadLetters,
    KeyedLogic,
    OutMessage,
    Payload,
    Router,
    kafka_dataflow,
    keyed_flow,
    lazy_flow,
    resumable,
    stream_finder,
)
from midstream.flows.shards import by_shard, sharded
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState


class StreamLogic(KeyedLogic[Payload, StreamState]):
    """Bytewax glue for one stream: parses its messages, feeds events and timers to the analyzer."""

    def __init__(self, analyzer: StreamAnalyzer, topics: Topics, dead_letters: DeadLetters,
                 clock: Clock, state: StreamState | None, snapshots: bool = True) -> None:
        super().__init__(analyzer, topics, clock, state, snapshots,
                         "" if state is None else state.stream_id, dead_letters=dead_letters,
                         errors=analyzer.metrics.analysis_errors, flow="llm_stream")
        self.analyzer = analyzer
        if state is not None and state.counted_open and not state.ended:
            # Restored from a snapshot: this process's open-streams gauge starts at zero.
            analyzer.metrics.streams_open.inc()
        self._max_bytes = analyzer.config.max_event_bytes

    def on_batch(self, values: list[Payload]) -> tuple[list[OutMessage], bool]:
        """Parse a batch of the stream's messages and feed the events to the analyzer."""
        now = self.clock()
        out: list[OutMessage] = []
        dead: list[OutMessage] = []
        analyzer = self.analyzer
        self.stream_id = values[0][0]
        for payload in values:
            event = events.parse_token_event(payload[1], max_bytes=self._max_bytes)
            if isinstance(event, events.Invalid):
                dead.append(self.dead_letters(payload, event.reason, event.error))
                continue
            if event.stream_id != self.stream_id:
                dead.append(self.dead_letters.key_mismatch(payload, self.stream_id,
                                                           event.stream_id))
                continue
            if self.state is None:
                self.state = analyzer.new_state(self.stream_id)
            out.extend(self.analysed(
                functools.partial(analyzer.on_event, self.state, event, now), payload, dead))
        analyzer.metrics.events.inc(len(values) - len(dead))
        if dead:
            out.extend(dead)
        return out, (self.DISCARD if self.state is None else self.RETAIN)


def build_flow(
    source: Source[Any],
    sink: Sink[Any],
    *,
    analyzer: StreamAnalyzer | None = None,
    topics: Topics | None = None,
    clock: Clock = time.time,
    flow_id: str = "llm_stream",
    snapshots: bool = True,
) -> Dataflow:
    """Wire the LLM-stream analysis between ``source`` and ``sink``.

    Parameters
    ----------
    source
        Yields raw messages whose value is the JSON of a token event (``RawMessage``, or
        Bytewax's ``KafkaSourceMessage`` / ``KafkaError``).
    sink
        Receives ``KafkaSinkMessage`` for the insights, control and dead-letter topics: as
        ``(stream id, message)`` pairs when it is a ``FixedPartitionedSink`` (such as
        :class:`midstream.connectors.kafka.KafkaOutput`), bare otherwise.
    analyzer
        Shared analysis (config, rules, metrics). Defaults to the environment's
        config and the process-wide metrics.
    topics
        Output topic names.
    clock
        Processing-time clock (seconds since the epoch) for timers.
    snapshots
        Pickle per-stream state when Bytewax snapshots an epoch. Turn off only when the
        run has no recovery directory, where snapshots are thrown away.

    Examples
    --------
    >>> import orjson
    >>> from bytewax.testing import TestingSink, TestingSource, run_main
    >>> from midstream.connectors.kafka import RawMessage
    >>> lines = [b'{"v":1,"stream_id":"a","seq":0,"ts":1,"kind":"delta","text":"x"}', b"oops"]
    >>> out = []
    >>> msgs = [RawMessage(None, v, "t", 0, i) for i, v in enumerate(lines)]
    >>> run_main(build_flow(TestingSource(msgs), TestingSink(out),
    ...                     analyzer=StreamAnalyzer.with_defaults()))
    >>> sorted((m.topic, orjson.loads(m.value).get("kind")) for m in out)
    [('midstream.dlq', None), ('midstream.insights', 'abandoned')]

    The stream ``a`` is history (``ts`` 1) and never ended: the end of the
    input makes it abandoned, in event time.
    """
    topics = topics or Topics.from_env()
    analyzer = analyzer or _analyzer_from_env(os.environ)
    dead_letters = DeadLetters(topics.dlq, analyzer.metrics.dead_letters, clock)
    find_stream = stream_finder(events.parse_token_event, analyzer.config.max_event_bytes)

    def make_stream(state: StreamState | None) -> StreamLogic:
        return StreamLogic(analyzer, topics, dead_letters, clock, state, snapshots)

    route = Router(dead_letters, find_stream)
    shards = analyzer.config.state_shards
    if shards > 0:
        return keyed_flow(flow_id, "tokens_in", source, sink, by_shard(route, shards),
                          sharded(make_stream, snapshots))
    return keyed_flow(flow_id, "tokens_in", source, sink, route, resumable(make_stream))


def _analyzer_from_env(env: Mapping[str, str]) -> StreamAnalyzer:
    config = AnalysisConfig.from_env(env)
    return StreamAnalyzer.from_config(config, default_metrics())


def kafka_flow(env: Mapping[str, str] | None = None) -> Dataflow:
    """Build the production flow: Kafka in and out, configured from the environment."""
    env = os.environ if env is None else env
    analyzer = _analyzer_from_env(env)
    analyzer.warm_up()  # compile the numeric kernels before the first event, not during one
    flow = kafka_dataflow(env, lambda topics: topics.tokens,
                          functools.partial(build_flow, analyzer=analyzer))
    # Modules, rules and the flow live as long as the process: moving them out of the
    # collector's generations keeps full collections (and latency spikes) short.
    gc.freeze()
    return flow


__getattr__ = lazy_flow(kafka_flow)

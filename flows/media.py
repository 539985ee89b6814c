"""The media dataflow: feature records in; insights and dead letters out.

Shape::

    media_in -> key_by_stream -> routed? -no-------------------------------> dead letters -+
                                   |yes (key, record or raw bytes)                         |
                                   v                                                       v
                               analyse (parse, per-stream windows, conditions, timers) --> out

The source yields either raw Kafka messages of the features topic (edge
ingest, ``midstream ingest --brokers``) or :class:`~midstream.core.media_events.MediaRecord`
objects (in-process ingest through :class:`midstream.connectors.media.source.IngestSource`,
as the demo does). Raw messages are validated where the stream's state lives;
bad ones go to the dead-letter topic with a reason. The analysis is
:class:`midstream.flows.media_analysis.MediaAnalyzer`; dead streams are found by a timer,
since a dead stream sends nothing.

Run against Kafka (settings from the environment, see the README)::

    python -m bytewax.run midstream.flows.media
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from midstream.core import events
from midstream.core.config import MediaConfig, Topics
from midstream.core.media_events import MediaRecord, encode_media_record, parse_media_record
from midstream.core.metrics import default_media_metrics
from midstream.flows.media_analysis import MediaAnalyzer, MediaState
from midstream.flows.routing import (
    Clock,
    DeadLetters,
    InMessage,
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

Item = MediaRecord | Payload


class MediaLogic(KeyedLogic[Item, MediaState]):
    """Bytewax glue for one media stream: parses its records, feeds records and timers."""

    def __init__(self, analyzer: MediaAnalyzer, topics: Topics, dead_letters: DeadLetters,
                 clock: Clock, state: MediaState | None, snapshots: bool) -> None:
        super().__init__(analyzer, topics, clock, state, snapshots,
                         "" if state is None else state.stream_id, dead_letters=dead_letters,
                         errors=analyzer.metrics.analysis_errors, flow="media")
        self.analyzer = analyzer
        if state is not None:
            analyzer.metrics.streams_open.inc()  # restored: this process's gauge starts at 0

    def _record(self, item: Item, key: str, dead: list[OutMessage]) -> MediaRecord | None:
        if isinstance(item, MediaRecord):
            return item
        parsed = parse_media_record(item[1], max_bytes=self.analyzer.config.max_record_bytes)
        if isinstance(parsed, events.Invalid):
            dead.append(self.dead_letters(item, parsed.reason, parsed.error))
            return None
        if parsed.stream_id != key:
            dead.append(self.dead_letters.key_mismatch(item, key, parsed.stream_id, "records"))
            return None
        return parsed

    def on_batch(self, values: list[Item]) -> tuple[list[OutMessage], bool]:
        """Parse a batch of the stream's records and feed them to the analyzer."""
        now = self.clock()
        out: list[OutMessage] = []
        dead: list[OutMessage] = []
        for item in values:
            key = item.stream_id if isinstance(item, MediaRecord) else item[0]
            record = self._record(item, key, dead)
            if record is None:
                continue
            if self.state is None:
                self.stream_id = record.stream_id
                self.state = self.analyzer.new_state(record.stream_id)
            out.extend(self.analysed(
                functools.partial(self.analyzer.on_record, self.state, record, now),
                functools.partial(_payload, item), dead))
        if dead:
            out.extend(dead)
        return out, (self.DISCARD if self.state is None else self.RETAIN)


def _payload(item: Item) -> Payload:
    """Return a raw message as it came, or the dead-letter payload of an in-process record."""
    if not isinstance(item, MediaRecord):
        return item
    try:
        value: bytes | None = encode_media_record(item)
    except Exception:  # a record built in-process need not be encodable; keep the dead letter
        value = None
    return item.stream_id, value, None, None, None, None


def build_flow(
    source: Source[Any],
    sink: Sink[Any],
    *,
    analyzer: MediaAnalyzer | None = None,
    topics: Topics | None = None,
    clock: Clock = time.time,
    flow_id: str = "media",
    snapshots: bool = True,
) -> Dataflow:
    """Wire the media analysis between ``source`` and ``sink``.

    Parameters
    ----------
    source
        Yields :class:`~midstream.core.media_events.MediaRecord` objects, or raw Kafka
        messages of the features topic (``RawMessage``, ``KafkaSourceMessage``, ``KafkaError``).
    sink
        Receives ``KafkaSinkMessage`` for the insights and dead-letter topics: as
        ``(stream id, message)`` pairs for a ``FixedPartitionedSink``, bare otherwise.
    analyzer
        Settings and metrics; the environment's (``MIDSTREAM_MEDIA_*``) by default.
    topics
        Output topic names.
    clock
        Wall clock (seconds since the epoch) for the dead-stream timers.
    snapshots
        Pickle per-stream state at each epoch (only useful with a recovery directory).

    Examples
    --------
    >>> from bytewax.testing import TestingSink, TestingSource, run_main
    >>> from midstream.connectors.kafka import RawMessage
    >>> status = MediaRecord(v=1, stream_id="cam", seq=0, ts=1.0, kind="status",
    ...                      status="connected", source="rtmp")
    >>> raw = RawMessage(b"cam", b"not json", "midstream.media.features", 0, 7)
    >>> out = []
    >>> run_main(build_flow(TestingSource([status, raw]), TestingSink(out),
    ...                     analyzer=MediaAnalyzer()))
    >>> import orjson
    >>> sorted((m.topic, orjson.loads(m.value).get("kind")) for m in out)
    [('midstream.dlq', None), ('midstream.insights', 'connected')]
    """
    topics = topics or Topics.from_env()
    analyzer = analyzer or MediaAnalyzer(MediaConfig.from_env(), default_media_metrics())
    dead_letters = DeadLetters(topics.dlq, analyzer.metrics.dead_letters, clock)
    router = Router(dead_letters,
                    stream_finder(parse_media_record, analyzer.config.max_record_bytes))

    def route(item: MediaRecord | InMessage) -> tuple[str, Item] | OutMessage:
        if isinstance(item, MediaRecord):
            return item.stream_id, item
        return router(item)

    build_logic = resumable(lambda state: MediaLogic(analyzer, topics, dead_letters, clock,
                                                     state, snapshots))
    return keyed_flow(flow_id, "media_in", source, sink, route, build_logic)


def kafka_flow(env: Mapping[str, str] | None = None) -> Dataflow:
    """Build the production flow: the features topic in, insights and dead letters out."""
    env = os.environ if env is None else env
    analyzer = MediaAnalyzer(MediaConfig.from_env(env), default_media_metrics())
    analyzer.warm_up()  # compile the numeric kernels before the first record, not during one
    return kafka_dataflow(env, lambda topics: topics.media,
                          functools.partial(build_flow, analyzer=analyzer))


__getattr__ = lazy_flow(kafka_flow)

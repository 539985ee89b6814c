"""Shared plumbing of the Kafka-fed flows: keying raw messages by stream, and dead letters.

Producers key messages by stream id (the contract), so the Kafka key is the
routing key and the JSON is parsed only after the exchange, on the worker that
owns the stream. Unkeyed messages are parsed where they arrive to find their
stream; what cannot be parsed becomes a dead letter at once.

Examples
--------
>>> from prometheus_client import CollectorRegistry, Counter
>>> counter = Counter("doc_dead", "doc", ("reason",), registry=CollectorRegistry())
>>> router = Router(DeadLetters("dlq", counter, lambda: 0.0), lambda value: "s1")
>>> router(RawMessage(b"cam-1", b"{}", "t", 0, 5))[0]
'cam-1'
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeGuard, TypeVar

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import FixedPartitionedSink, Sink
from prometheus_client import Counter

from midstream.connectors.kafka import ClientSettings, KafkaOutput, RawMessage, TokenTopicSource
from midstream.core import events, snapshots
from midstream.core.config import KafkaSettings, Topics
from midstream.flows.outputs import Output

logger = logging.getLogger(__name__)

InMessage = RawMessage | KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[Any, Any]
OutMessage = KafkaSinkMessage[bytes | None, bytes]
Clock = Callable[[], float]
FindStream = Callable[[bytes | None], "str | events.Invalid"]
"""Reads the stream id out of an unkeyed message's value, or says why it cannot."""


Payload = tuple[str, bytes | None, str | None, int | None, int | None, bytes | None]
"""What crosses between workers: (stream key, value, topic, partition, offset, Kafka key).
Plain tuples of bytes and ints pickle ten times faster than a parsed event, and Bytewax
pickles what it exchanges."""


class DeadLetters:
    """Turns rejected input into dead-letter messages for the DLQ topic.

    ``counter`` is a Prometheus counter with a ``reason`` label.
    """

    def __init__(self, topic: str, counter: Counter, clock: Clock) -> None:
        self.topic = topic
        self.counter = counter
        self.clock = clock

    def __call__(self, payload: Payload, reason: str, error: str) -> OutMessage:
        """Count a rejected message under ``reason`` and make its dead letter."""
        _, value, topic, partition, offset, key = payload
        self.counter.labels(reason).inc()
        record = events.dead_letter(
            ts=self.clock(), source_topic=topic, partition=partition, offset=offset,
            reason=reason, error=error, payload=value, key=key,
        )
        return KafkaSinkMessage(key=key, value=events.encode(record), topic=self.topic)

    def key_mismatch(self, payload: Payload, key: str, stream_id: str,
                     noun: str = "messages") -> OutMessage:
        """Make the dead letter of a message whose Kafka key is not the stream id it carries."""
        return self(payload, "key_mismatch",
                    f"message key {key!r} is not its stream_id {stream_id!r}; "
                    f"producers must key {noun} by stream id")


class _Streamed(Protocol):
    @property
    def stream_id(self) -> str: ...


def stream_finder(parse: Callable[..., _Streamed | events.Invalid],
                  max_bytes: int) -> FindStream:
    """Make a :data:`FindStream` from a contract's parser (``parse(value, max_bytes=...)``).

    >>> find = stream_finder(events.parse_token_event, 1024)
    >>> find(b'{"v":1,"stream_id":"s9","seq":0,"ts":1,"kind":"start"}')
    's9'
    >>> find(b"{").reason
    'invalid_json'
    """

    def find_stream(value: bytes | None) -> str | events.Invalid:
        parsed = parse(value, max_bytes=max_bytes)
        return parsed if isinstance(parsed, events.Invalid) else parsed.stream_id

    return find_stream


class Router:
    """Keys each raw message by stream id, without parsing it when it can."""

    def __init__(self, dead_letters: DeadLetters, find_stream: FindStream) -> None:
        self.dead_letters = dead_letters
        self.find_stream = find_stream

    def __call__(self, message: InMessage) -> tuple[str, Payload] | OutMessage:
        """Key a message by its stream id, or make its dead letter."""
        if isinstance(message, KafkaError):
            inner = message.msg
            return self.dead_letters(payload_of("", inner), "kafka_error",
                                     f"consumer error: {message.err}")
        if isinstance(message, RawMessage) and message.error is not None:
            return self.dead_letters(payload_of("", message), "kafka_error",
                                     f"consumer error: {message.error}")
        key = message.key
        if isinstance(key, bytes) and key:
            try:
                stream_key = key.decode()
                return stream_key, payload_of(stream_key, message)
            except UnicodeDecodeError:
                pass
        found = self.find_stream(message.value)
        if isinstance(found, events.Invalid):
            return self.dead_letters(payload_of("", message), found.reason, found.error)
        return found, payload_of(found, message)


def payload_of(stream_key: str, message: RawMessage | KafkaSourceMessage[Any, Any]) -> Payload:
    """Return the exchangeable tuple of a raw message."""
    value = message.value if isinstance(message.value, bytes) else None
    key = message.key if isinstance(message.key, bytes) else None
    return stream_key, value, message.topic, message.partition, message.offset, key


def dead_letter_key(message: object) -> str:
    """All dead letters share one key: their order is kept, and one worker writes them."""
    return "dead-letters"


_LATEST_TIMER = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


@functools.lru_cache(maxsize=8192)
def timer_datetime(due: float) -> datetime:
    """Timer deadlines rounded up to 10 ms share one datetime object: called per key per batch.

    Deadlines outside what a ``datetime`` holds (a stream stamped ``ts = 1e300``)
    are clamped into range, never an ``OverflowError`` in the worker.

    >>> timer_datetime(1e300).year, timer_datetime(-1e300).year
    (9999, 1970)
    """
    return datetime.fromtimestamp(min(max(due, 0.0), _LATEST_TIMER), UTC)


EAGER_SNAPSHOT_GAP = 1.0
"""A stream touched by one change after this many idle seconds is pickled at once, not at the epoch's end.

Bytewax snapshots, at the end of each epoch and in the worker's one thread,
every key touched in it; pickling one stream's state takes tens of
microseconds, so an epoch that touched 10,000 slow streams (one event each)
stalls every stream for the pickling of all of them. A stream that had been
idle this long and gets a single event is most likely touched once in the
epoch, so its state is pickled right after its event, and the snapshot hands
over those bytes unless something changed it since. Busy streams are pickled
once, at the epoch's end, and so are new ones: most streams are short, and one
that ends within its first epoch is never pickled at all.

Two guards keep a job that has fallen behind from pickling more, not less:
reading a backlog, every stream looks idle between the worker's large batches
while it is really busy. So a touch that brought several events is not
pickled eagerly, and a stream is pickled eagerly at most once per epoch.
"""


class _EpochEnds:
    """How many snapshots this process has taken.

    An epoch ended since a stream's eager pickle when the count has moved.
    """

    count = 0


def epoch_ended() -> None:
    """Note that Bytewax is snapshotting (the end of an epoch): eager pickles may happen again."""
    _EpochEnds.count += 1


ANALYSIS_ERROR = "analysis_error"
"""The dead-letter reason of an event (or timer) whose analysis raised."""


def describe_error(exc: BaseException, stage: str) -> str:
    """Describe an exception for a dead letter's ``error``: its type first, never raising.

    >>> describe_error(ZeroDivisionError("division by zero"), "event")
    'ZeroDivisionError in event: division by zero'
    """
    try:
        text = str(exc)
    except Exception:  # a hostile __str__ must not raise out of the handler
        text = "<unprintable>"
    return f"{type(exc).__name__} in {stage}: {text[:1000]}"


S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
V = TypeVar("V")


class TimedAnalysis(Protocol[S_contra]):
    """What :class:`KeyedLogic` needs of an analysis: its per-stream timers."""

    def next_timer(self, state: S_contra) -> float:
        """Wall-clock time of the stream's next timer."""
        ...

    def on_timer(self, state: S_contra, now: float) -> tuple[list[Output], bool]:
        """Fire due timers: the records they make, and whether to forget the stream."""
        ...

    def on_input_end(self, state: S_contra) -> list[Output]:
        """Return the records the end of a bounded input makes certain."""
        ...

    def forget(self, state: S_contra) -> None:
        """Drop a stream's state before its time (its analysis raised): undo what it counts."""
        ...


class KeyedLogic(op.StatefulBatchLogic[V, OutMessage, bytes | None], Generic[V, S]):
    """The Bytewax glue every keyed flow shares: timers, output messages, snapshots.

    Subclasses implement ``on_batch``. The snapshot is the pickled state:
    immutable bytes, as Bytewax requires. Bytewax asks for snapshots at every
    epoch even without recovery, and pickling every active stream at once
    stalls the worker, so ``snapshots=False`` skips them where nobody reads them.

    Poison pills stay in their stream: an exception raised while analysing one
    event (:meth:`analysed`) or firing one stream's timers dead-letters that
    event with reason ``analysis_error`` and the exception's type, counts it in
    ``midstream_analysis_errors``, and resets the stream (its state is dropped,
    so the next event starts it afresh; a half-updated state is never trusted
    again). The worker and every other stream go on.
    """

    def __init__(self, analysis: TimedAnalysis[S], topics: Topics, clock: Clock,
                 state: S | None, snapshots: bool, stream_id: str, *,
                 dead_letters: DeadLetters, errors: Counter, flow: str) -> None:
        # Bytewax does not tell a logic its key; it arrives with the first item.
        self.stream_id = stream_id
        self.analysis = analysis
        self.topics = topics
        self.clock = clock
        self.state = state
        self.snapshots = snapshots
        self.dead_letters = dead_letters
        self.errors = errors
        self.flow = flow
        self._timer_error: Exception | None = None
        self._pickled: bytes | None = None
        """The state as pickled after its last change (slow streams), else None."""
        self._touched: float | None = None
        """Clock reading at the last change; None before the first (a new stream is not idle)."""
        self._changes = 0
        """Events and timer runs since Bytewax last asked for the next timer."""
        self._eager_epoch = -1
        """:class:`_EpochEnds` count at this stream's last eager pickle."""

    def analysed(self, run: Callable[[], Iterable[Output]], payload: Payload | Callable[[], Payload],
                 dead: list[OutMessage]) -> list[OutMessage]:
        """Run one event's analysis and encode its records; contain what it raises.

        On an exception the event's dead letter (of ``payload``, or of what it
        returns when it is a callable, made only then) goes to ``dead``, the
        stream is reset, and nothing of the event's partial output is emitted.
        """
        self._pickled = None
        self._changes += 1
        try:
            return self._messages(run())
        except Exception as exc:  # any bug in one stream's analysis, by design
            dead.append(self._failed(exc, "event", payload() if callable(payload) else payload))
            return []

    def _failed(self, exc: Exception, stage: str, payload: Payload) -> OutMessage:
        error = describe_error(exc, stage)
        self._timer_error = None
        self.errors.labels(self.flow, stage, type(exc).__name__).inc()
        logger.error("analysis of stream %r failed; the stream is reset: %s",
                     self.stream_id[:256], error, exc_info=exc)
        state, self.state = self.state, None
        if state is not None:
            try:
                self.analysis.forget(state)
            except Exception:  # the state is dropped anyway
                logger.exception("forgetting stream %r failed", self.stream_id[:256])
        return self.dead_letters(payload, ANALYSIS_ERROR, error)

    def _timer_payload(self) -> Payload:
        return self.stream_id, None, None, None, None, self.stream_id.encode()

    def _messages(self, outputs: Iterable[Output]) -> list[OutMessage]:
        key = self.stream_id.encode()
        topic_of = {"insights": self.topics.insights, "control": self.topics.control}
        return [KafkaSinkMessage(key=key, value=events.encode(record), topic=topic_of[kind])
                for kind, record in outputs]

    def on_notify(self) -> tuple[list[OutMessage], bool]:
        """Run the analysis's timers; discard the state when the analysis forgets the stream."""
        assert self.state is not None
        self._pickled = None
        self._changes += 1
        try:
            if self._timer_error is not None:
                raise self._timer_error
            outputs, forget = self.analysis.on_timer(self.state, self.clock())
            return self._messages(outputs), (self.DISCARD if forget else self.RETAIN)
        except Exception as exc:  # contained like an event's (class docstring)
            return [self._failed(exc, "timer", self._timer_payload())], self.DISCARD

    def on_eof(self) -> tuple[list[OutMessage], bool]:
        """Emit what the end of a bounded input makes certain, keeping the state."""
        # Input ended (a bounded replay): keep state so timers still fire if the flow lives on.
        self._pickled = None
        if self.state is None:
            return [], self.DISCARD
        try:
            return self._messages(self.analysis.on_input_end(self.state)), self.RETAIN
        except Exception as exc:  # contained like an event's (class docstring)
            return [self._failed(exc, "input_end", self._timer_payload())], self.DISCARD

    def take_pickled(self) -> bytes | None:
        """Hand over (and forget) the state as pickled right after its last change, if it was.

        For a holder that keeps the bytes itself (:class:`~midstream.flows.shards.ShardLogic`):
        one copy of them in memory, not two.
        """
        pickled, self._pickled = self._pickled, None
        return pickled

    def notify_at(self) -> datetime | None:
        """Return when :meth:`on_notify` must next run (``None`` while there is no state).

        Bytewax asks after each call that may have changed the state: a stream
        changed once after :data:`EAGER_SNAPSHOT_GAP` idle seconds is pickled
        now, unless it already was in this epoch.
        """
        if self.state is None:
            return None
        changes, self._changes = self._changes, 0
        if self.snapshots and self._pickled is None:
            now = self.clock()
            if (changes == 1 and self._touched is not None
                    and now - self._touched >= EAGER_SNAPSHOT_GAP
                    and self._eager_epoch != _EpochEnds.count):
                self._pickled = snapshots.snapshot(self.state)
                self._eager_epoch = _EpochEnds.count
            self._touched = now
        try:
            due = self.analysis.next_timer(self.state)
        except Exception as exc:  # fire now: on_notify then contains the error
            self._timer_error = exc
            return timer_datetime(0.0)
        return timer_datetime(round(due + 0.005, 2))

    def snapshot(self) -> bytes | None:
        """Pickle the state for recovery, or ``None`` when snapshots are off.

        Hands over the bytes pickled after the state's last change, when there are.
        """
        if not self.snapshots:
            return None
        epoch_ended()
        if self._pickled is not None:
            return self._pickled
        return snapshots.snapshot(self.state)


def keyed_flow(flow_id: str, input_step: str, source: Source[Any], sink: Sink[Any],
               route: Callable[[Any], tuple[str, Any] | OutMessage],
               build_logic: Callable[[bytes | None], op.StatefulBatchLogic[Any, OutMessage,
                                                                           bytes | None]],
               ) -> Dataflow:
    """Build the shape every keyed flow has: route, analyse per key, merge in the dead letters.

    ``route`` returns ``(stream key, item)`` or a dead-letter message. The sink
    gets ``(key, message)`` pairs when it is a ``FixedPartitionedSink`` (each
    stream's output keeps its order), bare messages otherwise.
    """

    def is_routed(item: tuple[str, Any] | OutMessage) -> TypeGuard[tuple[str, Any]]:
        return isinstance(item, tuple)

    flow = Dataflow(flow_id)
    raw = op.input(input_step, flow, source)
    routed = op.branch("route", op.map("key_by_stream", raw, route), is_routed)
    emitted = op.stateful_batch("analyse", routed.trues, build_logic)
    dead = op.key_on("dead_letter_key", routed.falses, dead_letter_key)
    results: op.Stream[tuple[str, OutMessage]] = op.merge("with_dead_letters", emitted, dead)
    if isinstance(sink, FixedPartitionedSink):
        op.output("out", results, sink)
    else:
        op.output("out", op.key_rm("emit", results), sink)
    return flow


L = TypeVar("L")


def resumable(make_logic: Callable[[Any], L]) -> Callable[[bytes | None], L]:
    """Make a Bytewax ``builder``: the logic made from the unpickled snapshot (``None``: new key).

    >>> build = resumable(lambda state: ("logic", state))
    >>> build(None), build(snapshots.snapshot({"seq": 3}))
    (('logic', None), ('logic', {'seq': 3}))
    """

    def build_logic(resume: bytes | None) -> L:
        return make_logic(None if resume is None else snapshots.restore(resume))

    return build_logic


class FlowBuilder(Protocol):
    """A flow module's ``build_flow``, as :func:`kafka_dataflow` calls it."""

    def __call__(self, source: Source[Any], sink: Sink[Any], *, topics: Topics,
                 snapshots: bool) -> Dataflow:
        """Build the flow from ``source`` to ``sink``, keeping recovery snapshots if ``snapshots``."""


def kafka_dataflow(env: Mapping[str, str] | None, input_topic: Callable[[Topics], str],
                   build: FlowBuilder) -> Dataflow:
    """Build a production flow: Kafka in and out, topics and settings from ``env`` (the process's).

    ``input_topic`` picks the topic read; ``build`` gets the Kafka source and sink,
    the topics, and whether recovery snapshots are kept.
    """
    env = os.environ if env is None else env
    topics = Topics.from_env(env)
    source, sink = kafka_endpoints(env, input_topic(topics))
    return build(source, sink, topics=topics, snapshots=recovery_enabled(sys.argv, env))


def lazy_flow(kafka_flow: Callable[[], Dataflow]) -> Callable[[str], Any]:
    """Make a module ``__getattr__`` that builds ``flow`` when asked for it.

    ``python -m bytewax.run midstream.flows.<name>`` looks up the module's
    ``flow``; building it only then keeps importing the module free of side
    effects (tests import flow modules without Kafka).

    >>> getattr_ = lazy_flow(lambda: Dataflow("doc"))
    >>> getattr_("flow").flow_id
    'doc'
    """

    def module_getattr(name: str) -> Any:
        if name == "flow":
            return kafka_flow()
        raise AttributeError(name)

    return module_getattr


def recovery_enabled(argv: list[str], env: Mapping[str, str]) -> bool:
    """Whether this run keeps Bytewax recovery snapshots (``MIDSTREAM_SNAPSHOTS``).

    ``auto`` (the default) means: ``bytewax.run`` was given a recovery
    directory (``-r``/``--recovery-directory`` or ``BYTEWAX_RECOVERY_DIRECTORY``).

    >>> recovery_enabled(["bytewax.run", "midstream.flows.llm_stream", "-r", "/tmp/r"], {})
    True
    >>> recovery_enabled(["bytewax.run", "midstream.flows.llm_stream"], {"MIDSTREAM_SNAPSHOTS": "auto"})
    False
    """
    setting = env.get("MIDSTREAM_SNAPSHOTS", "auto").lower()
    if setting in ("on", "true", "1"):
        return True
    if setting in ("off", "false", "0"):
        return False
    if setting != "auto":
        raise ValueError("MIDSTREAM_SNAPSHOTS must be 'auto', 'on' or 'off'")
    return bool(env.get("BYTEWAX_RECOVERY_DIRECTORY")) or any(
        arg in ("-r", "--recovery-directory") or arg.startswith("--recovery-directory=")
        for arg in argv
    )


def kafka_endpoints(env: Mapping[str, str], topic: str) -> tuple[TokenTopicSource, KafkaOutput]:
    """Make the production source (``topic``) and sink, from ``MIDSTREAM_*`` Kafka settings.

    Raises
    ------
    ValueError
        If ``MIDSTREAM_STARTING_OFFSET`` is neither ``earliest`` nor ``latest``.
    """
    job = KafkaSettings.from_env(env)
    offsets = {"earliest": -2, "latest": -1}
    if job.starting_offset not in offsets:
        raise ValueError("MIDSTREAM_STARTING_OFFSET must be 'earliest' or 'latest'")
    kafka = ClientSettings.from_env(env)
    source = TokenTopicSource(kafka, [topic], tail=job.tail,
                              starting_offset=offsets[job.starting_offset],
                              batch_size=job.batch_size,
                              poll_interval=timedelta(milliseconds=job.poll_ms))
    return source, KafkaOutput(kafka)

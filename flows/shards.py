"""Many streams per Bytewax key: the flow keys its state by shard, each shard holds its streams.

Bytewax 0.21's ``stateful_batch`` keeps one logic per key, and two of its costs
grow with the number of keys a worker holds:

* on every activation it visits the scheduled notification of every key, so
  10,000 open streams, each with a stall or abandonment timer, cost a worker
  the same visit of 10,000 timers for every batch it gets;
* at the end of an epoch it writes every key touched to its SQLite store, at
  about 10 µs a key plus the bytes (``bench.bytewax_snapshot_floor``).

A :class:`ShardLogic` is the logic of one shard key (``shard_key``: a CRC-32
of the stream id modulo ``shards``) and holds a per-stream logic
(:class:`~midstream.flows.routing.KeyedLogic`) for each of its streams.
It hands each stream its own items, in order; keeps the streams' timers in a
heap and tells Bytewax only the earliest; and snapshots as a dict of each
stream's snapshot bytes, compressed, re-pickling only the streams that changed
since the last snapshot. Each stream's analysis, error containment and output
are exactly what they were with one key per stream.

Changing ``shards`` changes which key holds a stream: like rescaling a Bytewax
flow, start the new setting on a fresh recovery directory (streams in flight
at the switch then start afresh). A snapshot of a single stream (written with
one key per stream, before shards) still restores, as a shard of that one
stream.
"""

from __future__ import annotations

import functools
import heapq
import logging
import pickle
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op

from midstream.core import snapshots
from midstream.flows.routing import (
    ANALYSIS_ERROR,
    KeyedLogic,
    OutMessage,
    Payload,
    describe_error,
    epoch_ended,
)

__all__ = ["ShardLogic", "by_shard", "shard_key", "sharded"]

logger = logging.getLogger(__name__)

StreamLogicFactory = Callable[[Any], KeyedLogic[Any, Any]]
"""Makes a stream's logic from its restored state (``None``: a new stream)."""


def shard_key(stream_id: str, shards: int) -> str:
    """Return the key of the shard that holds ``stream_id`` (stable across processes and runs).

    Examples
    --------
    >>> shard_key("chat-42", 256)
    'shard-0195'
    >>> shard_key("chat-42", 256) == shard_key("chat-42", 256)
    True
    """
    return _shard_names(shards)[zlib.crc32(stream_id.encode("utf-8", "surrogatepass")) % shards]


@functools.lru_cache(maxsize=8)
def _shard_names(shards: int) -> tuple[str, ...]:
    """Every shard's key, formatted once: formatting it per event cost a fifth of the routing."""
    return tuple(f"shard-{i:04d}" for i in range(shards))


def _compressed(state_bytes: bytes) -> bytes:
    """Compress a stream's pickle (3.3 KB to about 1.2 KB for a typical stream)."""
    return zlib.compress(state_bytes, 1)


def _stored_state(data: bytes) -> bytes:
    r"""Return a stream's pickle from what its shard stored: compressed, or as it was.

    Every stream's pickle is stored compressed: a shard hands Bytewax all its
    streams' bytes at each epoch it is touched, changed or not, so 2 KB saved
    once are saved at every later epoch (storing them uncompressed took the
    pause of an epoch over 10,000 waiting streams from a p99 of 16 to 124 ms,
    ``bench.snapshot_pause``). Snapshots written by a version that stored some
    uncompressed still restore: a pickle starts with the PROTO opcode (0x80), a
    zlib stream never does (its first byte is 0x78 at every level used here).

    >>> _stored_state(_compressed(b"\x80\x05state")) == _stored_state(b"\x80\x05state")
    True
    """
    return data if data[:1] == b"\x80" else zlib.decompress(data)


class ShardLogic(op.StatefulBatchLogic[Payload, OutMessage, bytes | None]):
    """The Bytewax logic of one shard: a :class:`KeyedLogic` per stream, one timer heap.

    Parameters
    ----------
    make_stream
        Makes a stream's logic from its restored state, or ``None`` for a new stream.
    snapshots
        Keep recovery snapshots (``snapshot`` returns ``None`` otherwise).
    streams
        The streams restored from a snapshot, by id.
    stored
        Their compressed snapshot bytes, kept until a stream changes.
    """

    def __init__(self, make_stream: StreamLogicFactory, snapshots: bool,
                 streams: dict[str, KeyedLogic[Any, Any]] | None = None,
                 stored: dict[str, bytes] | None = None) -> None:
        self.make_stream = make_stream
        self.snapshots = snapshots
        self.streams: dict[str, KeyedLogic[Any, Any]] = {}
        self._due: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._stored: dict[str, bytes] = {}
        """Each stream's compressed snapshot, for the streams unchanged since it was taken."""
        for stream_id, logic in (streams or {}).items():
            self._settle(stream_id, logic, self.RETAIN)
        # Restored streams are as their snapshot left them: keep its bytes, don't re-pickle.
        self._stored.update({k: v for k, v in (stored or {}).items() if k in self.streams})

    # -- Bytewax's calls ---------------------------------------------------------------------

    def on_batch(self, values: list[Payload]) -> tuple[list[OutMessage], bool]:
        """Hand each stream of the batch its own items, in their order."""
        groups: dict[str, list[Payload]] = {}
        for payload in values:
            group = groups.get(payload[0])
            if group is None:
                groups[payload[0]] = [payload]
            else:
                group.append(payload)
        out: list[OutMessage] = []
        for stream_id, items in groups.items():
            logic = self.streams.get(stream_id) or self.make_stream(None)
            try:
                messages, discard = logic.on_batch(items)
            except Exception as exc:  # a bug outside the per-event containment: this stream only
                out.extend(self._dead(logic, exc, items))
                self._settle(stream_id, logic, self.DISCARD)
                continue
            out.extend(messages)
            self._settle(stream_id, logic, discard)
        return out, self._verdict()

    def notify_at(self) -> datetime | None:
        """Return the earliest timer of the shard's streams."""
        heap, due = self._heap, self._due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # a timer since moved or dropped
        return heap[0][0] if heap else None

    def on_notify(self) -> tuple[list[OutMessage], bool]:
        """Run the timers of every stream that is due."""
        now = datetime.now(UTC)
        heap, due = self._heap, self._due
        fired: list[str] = []
        while heap and heap[0][0] <= now:
            at, stream_id = heapq.heappop(heap)
            if due.get(stream_id) == at:
                del due[stream_id]
                fired.append(stream_id)
        out: list[OutMessage] = []
        for stream_id in fired:
            logic = self.streams[stream_id]
            messages, discard = logic.on_notify()  # contains what the timers raise
            out.extend(messages)
            self._settle(stream_id, logic, discard)
        return out, self._verdict()

    def on_eof(self) -> tuple[list[OutMessage], bool]:
        """Tell every stream the bounded input ended."""
        out: list[OutMessage] = []
        for stream_id, logic in list(self.streams.items()):
            messages, discard = logic.on_eof()  # contains what it raises
            out.extend(messages)
            self._settle(stream_id, logic, discard)
        return out, self._verdict()

    def snapshot(self) -> bytes | None:
        """Each stream's snapshot bytes, re-taken only for streams that changed since the last."""
        if not self.snapshots:
            return None
        epoch_ended()
        stored = self._stored
        for stream_id, logic in self.streams.items():
            if stream_id not in stored:
                state = logic.snapshot()
                if state is not None:
                    # Compressed here too: a shard rewrites every stream's stored bytes at each
                    # epoch it is touched, so bytes saved once are saved again and again.
                    stored[stream_id] = _compressed(state)
        return pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)

    # -- internals ---------------------------------------------------------------------------

    def _settle(self, stream_id: str, logic: KeyedLogic[Any, Any], discard: bool) -> None:
        """Keep or drop a stream after a call that may have changed it; reschedule its timer."""
        self._stored.pop(stream_id, None)
        if discard:
            self.streams.pop(stream_id, None)
            self._due.pop(stream_id, None)
            return
        self.streams[stream_id] = logic
        at = logic.notify_at()  # also pickles the state of a stream that had been idle
        if at is None:
            self._due.pop(stream_id, None)
            return
        if self._due.get(stream_id) != at:
            self._due[stream_id] = at
            heapq.heappush(self._heap, (at, stream_id))
            if len(self._heap) > 2 * len(self._due) + 64:  # mostly stale: rebuild
                self._heap = [(t, s) for s, t in self._due.items()]
                heapq.heapify(self._heap)
        pickled = logic.take_pickled()
        if pickled is not None:
            self._stored[stream_id] = _compressed(pickled)

    def _verdict(self) -> bool:
        return self.DISCARD if not self.streams else self.RETAIN

    def _dead(self, logic: KeyedLogic[Any, Any], exc: Exception,
              items: list[Payload]) -> list[OutMessage]:
        error = describe_error(exc, "batch")
        logger.error("stream %r failed outside its events; it is reset: %s",
                     items[0][0][:256], error, exc_info=exc)
        logic.errors.labels(logic.flow, "batch", type(exc).__name__).inc()
        return [logic.dead_letters(payload, ANALYSIS_ERROR, error) for payload in items]


def by_shard(route: Callable[[Any], tuple[str, Payload] | OutMessage], shards: int
             ) -> Callable[[Any], tuple[str, Payload] | OutMessage]:
    """Key what ``route`` keys by stream by the stream's shard instead (the payload keeps the id).

    Examples
    --------
    >>> route = by_shard(lambda message: ("chat-42", ("chat-42", message)), 256)
    >>> route(b"x")[0]
    'shard-0195'
    """

    def keyed(message: Any) -> tuple[str, Payload] | OutMessage:
        routed = route(message)
        if isinstance(routed, tuple):
            return shard_key(routed[0], shards), routed[1]
        return routed

    return keyed


def sharded(make_stream: StreamLogicFactory, snapshots_on: bool
            ) -> Callable[[bytes | None], ShardLogic]:
    """Make the Bytewax ``builder`` of a sharded step: a shard from its snapshot, or empty.

    Examples
    --------
    >>> build = sharded(lambda state: state, snapshots_on=False)
    >>> build(None).streams
    {}
    """

    def build(resume: bytes | None) -> ShardLogic:
        if resume is None:
            return ShardLogic(make_stream, snapshots_on)
        restored = snapshots.restore(resume)
        if isinstance(restored, dict):
            streams = {stream_id: make_stream(snapshots.restore(_stored_state(data)))
                       for stream_id, data in restored.items()}
            return ShardLogic(make_stream, snapshots_on, streams, restored)
        # One stream's state, snapshotted with one key per stream (before shards).
        logic = make_stream(restored)
        return ShardLogic(make_stream, snapshots_on, {logic.stream_id: logic})

    return build

"""A Bytewax source that replays a JSON-lines file of token events in real time.

Each line is a contract-v1 token event whose ``ts`` counts seconds from the
start of the recording. The source emits each event when its time comes
(scaled by ``speed``), with ``ts`` rebased onto the wall clock, wrapped in a
:class:`~midstream.connectors.kafka.RawMessage` exactly as the Kafka source delivers it, so the
flow cannot tell a replay from live traffic. Lines that are not JSON objects
are passed through as raw bytes, so they reach the dead-letter path like any
bad Kafka message.

The position in the file is the resume state, so a replay with recovery
enabled continues where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from midstream.connectors.kafka import RawMessage

Message = RawMessage


Row = tuple[float, bytes, bytes | None, dict[str, Any] | None]


def _load(path: Path) -> list[Row]:
    """(offset seconds, raw line, key, event or None) per non-blank line, sorted by offset.

    The event is kept decoded so that replaying only re-stamps ``ts``; lines
    that are not events are replayed as they are.
    """
    rows: list[Row] = []
    last = 0.0
    with path.open("rb") as lines:
        for line in lines:
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("ts"), (int, float)):
                last = float(event["ts"])
                stream_id = event.get("stream_id")
                key = stream_id.encode() if isinstance(stream_id, str) else None
                rows.append((last, raw, key, event))
            else:
                rows.append((last, raw, None, None))
    rows.sort(key=lambda row: row[0])
    return rows


_LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


def _datetime(wall: float) -> datetime:
    """Return ``wall`` as a datetime, clamped into range (a line stamped ``ts = 1e300``).

    >>> _datetime(1e300).year, _datetime(float("nan")).year
    (9999, 1970)
    """
    if not 0.0 <= wall <= _LATEST:
        wall = _LATEST if wall > _LATEST else 0.0
    return datetime.fromtimestamp(wall, UTC)


class _ReplayPartition(StatefulSourcePartition[Message, int]):
    def __init__(self, path: Path, topic: str, speed: float, linger: float,
                 resume_state: int | None, clock: Callable[[], float],
                 on_emit: Callable[[int, int], None] | None) -> None:
        self._rows = _load(path)
        self._topic = topic
        self._speed = speed
        self._linger = linger
        self._next = resume_state or 0
        self._clock = clock
        self._on_emit = on_emit
        self._first = self._rows[self._next][0] if self._next < len(self._rows) else 0.0
        # Wall-clock time at which recording time `first` is replayed: the next whole second,
        # so that replayed timestamps (and the gaps between them) are the same bits in every
        # replay, whenever it starts. With a fractional start they were rounded differently
        # each time (a float near 1.7e9 s holds 0.24 µs), and an analysis on the edge of a
        # verdict could flip between two replays of the same file.
        self._start = float(math.ceil(clock()))
        self._awake: datetime | None = None

    def _wall(self, offset: float) -> float:
        return self._start + (offset - self._first) / self._speed

    def next_batch(self) -> list[Message]:
        now = self._clock()
        rows = self._rows
        if self._next >= len(rows):
            end = self._wall(rows[-1][0] if rows else 0.0) + self._linger
            if now >= end:
                raise StopIteration()
            self._awake = _datetime(end)
            return []
        batch: list[Message] = []
        while self._next < len(rows) and self._wall(rows[self._next][0]) <= now:
            offset, raw, key, event = rows[self._next]
            if event is not None:
                raw = orjson.dumps({**event, "ts": round(self._wall(offset), 6)})
            batch.append(RawMessage(key, raw, self._topic, 0, self._next))
            self._next += 1
        if self._next < len(rows):
            due = self._wall(rows[self._next][0])
            self._awake = _datetime(due)
        if batch and self._on_emit is not None:
            self._on_emit(self._next, len(rows))
        return batch

    def next_awake(self) -> datetime | None:
        awake, self._awake = self._awake, None
        return awake

    def snapshot(self) -> int:
        return self._next


class ReplaySource(FixedPartitionedSource[Message, int]):
    """Replay ``path`` in real time.

    Parameters
    ----------
    path
        JSON-lines file of token events with relative ``ts``.
    topic
        Topic name stamped on the messages (as if read from Kafka).
    speed
        Replay speed factor: 2.0 replays twice as fast.
    linger
        Seconds to stay open after the last event, so timers (stalls,
        abandoned streams) can still fire before the flow ends.
    on_emit
        Called with (events emitted, total) after each batch: progress.

    Examples
    --------
    >>> from midstream.cli.sample_streams import REPLAY_FILE
    >>> ReplaySource(REPLAY_FILE).list_parts()
    ['replay']
    """

    def __init__(self, path: str | Path, *, topic: str = "midstream.llm.tokens",
                 speed: float = 1.0, linger: float = 0.0,
                 clock: Callable[[], float] = time.time,
                 on_emit: Callable[[int, int], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.path = Path(path)
        self.topic = topic
        self.speed = speed
        self.linger = linger
        self.clock = clock
        self.on_emit = on_emit

    def list_parts(self) -> list[str]:
        """Name the one partition: the file is replayed in order."""
        return ["replay"]

    def build_part(self, step_id: str, for_part: str,
                   resume_state: int | None) -> _ReplayPartition:
        """Make the replaying partition, resuming at row ``resume_state`` when given."""
        return _ReplayPartition(self.path, self.topic, self.speed, self.linger, resume_state,
                                self.clock, self.on_emit)



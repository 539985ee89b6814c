"""Control decisions for one proxied stream: from the follower's thread to the stream, in order.

The :class:`~midstream.connectors.openai.control.ControlFollower` calls back on its own
thread; :class:`StreamDecisions` hands each record over to the event loop with
``call_soon_threadsafe``, applies it under the stream's lock, and counts a decision that
arrives after the stream ended as late (a metric and a log line saying how much had been
delivered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from midstream.core.metrics import GatewayMetrics

log = logging.getLogger(__name__)


class DecisionTarget(Protocol):
    """The stream a decision acts on."""

    lock: asyncio.Lock
    stream_id: str | None
    closed: bool

    @property
    def collected(self) -> list[str]:
        """Text delivered to the client, chunk by chunk."""
        ...

    @property
    def delivered_chars(self) -> int:
        """Characters of text delivered to the client."""
        ...

    async def stop(self, reason: str) -> None:
        """Stop the stream (called under :attr:`lock`)."""
        ...

    async def redact(self, start: int, end: int, reason: str) -> None:
        """Redact characters ``start..end`` of the text (called under :attr:`lock`)."""
        ...


class StreamDecisions:
    """Applies control records (contract v1) to one stream, on its event loop.

    Parameters
    ----------
    target
        The stream.
    metrics
        Where late decisions are counted.
    """

    def __init__(self, target: DecisionTarget, metrics: GatewayMetrics) -> None:
        self.target = target
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    def from_follower(self, record: dict[str, Any]) -> None:
        """Take a decision on the follower's thread; it is applied on the event loop."""
        self._loop.call_soon_threadsafe(self.spawn, lambda: self.apply(record))

    def spawn(self, make: Callable[[], Awaitable[Any]]) -> None:
        """Run a coroutine as a task kept alive until it is done."""
        task = asyncio.ensure_future(make())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def apply(self, record: dict[str, Any]) -> None:
        """Apply one control decision to the stream."""
        action = record.get("action")
        reason = str(record.get("reason") or "policy")
        target = self.target
        async with target.lock:
            if target.closed:
                self.metrics.late_decisions.labels(str(action)).inc()
                log.warning("late %s decision (%s) for stream %s: it had ended, %d characters "
                            "in %d chunks (about one token each) delivered", action, reason,
                            target.stream_id, target.delivered_chars, len(target.collected))
                return
            if action == "stop":
                await target.stop(reason)
            elif action == "redact":
                span = record.get("span")
                if not isinstance(span, dict):
                    return
                start, end = span.get("start"), span.get("end")
                if isinstance(start, int) and isinstance(end, int):
                    await target.redact(start, end, reason)

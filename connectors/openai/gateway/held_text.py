"""Text held back from the client until the job decides on it, or a timeout does.

:class:`HeldText` wraps one stream's
:class:`~midstream.connectors.openai.gateway.redaction.RedactionBuffer` with the
decision timer: while a complete match waits for its decision, :attr:`HeldText.waiting`
is true and a timer runs; when it expires (``decision_timeout``), the match is released
(fail open) or redacted locally (fail closed) and the released text goes to the client.
The timer runs on the event loop and takes the stream's lock, like everything that
writes to the client.

Without a job to ask (no Kafka: only ``--fail-closed`` holds text back), no
decision can come: a complete match is redacted locally at once, with no timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.connectors.openai.gateway.redaction import RedactionBuffer
from midstream.core.metrics import GatewayMetrics

log = logging.getLogger(__name__)

Emit = Callable[[str], Awaitable[None]]
"""Delivers released text to the client (in the stream's format)."""
Spawn = Callable[[Callable[[], Awaitable[None]]], None]
"""Runs a coroutine function as a task the stream keeps track of."""


class HeldText:
    """The hold-back of one stream and its decision timer.

    Parameters
    ----------
    buffer
        The stream's redaction buffer.
    config
        The gateway's settings (``decision_timeout``, ``fail_closed``).
    metrics
        Where decision timeouts and local redactions are counted.
    route
        ``chat`` or ``responses`` (a metric label).
    lock
        The stream's lock, taken by the timer before touching the stream.
    emit
        Delivers text the timer releases.
    spawn
        Runs the timer's coroutine as a task.
    job
        Whether a job can send decisions; without one, complete matches are redacted
        locally at once (only fail closed holds text back then).
    """

    def __init__(self, buffer: RedactionBuffer, *, config: GatewayConfig,
                 metrics: GatewayMetrics, route: str, lock: asyncio.Lock, emit: Emit,
                 spawn: Spawn, job: bool = True) -> None:
        self.buffer = buffer
        self.config = config
        self.metrics = metrics
        self.route = route
        self.lock = lock
        self.emit = emit
        self.spawn = spawn
        self.stream_id: str | None = None
        """The stream's id once it is known (for the log)."""
        self._over = False
        self._timer: asyncio.TimerHandle | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self._loop = asyncio.get_running_loop()
        self._no_job = not job
        """No job can decide: complete matches are redacted locally at once."""

    def feed(self, text: str) -> str:
        """Hold an upstream text delta; return what the client may have now."""
        return self._settle(self.buffer.feed(text))

    def finish(self) -> str:
        """End the upstream's text; partial matches are released."""
        return self._settle(self.buffer.finish())

    @property
    def waiting(self) -> bool:
        """Whether a held complete match still waits for its decision."""
        return not self._settled.is_set()

    async def settled(self) -> None:
        """Wait until held matches are decided or the decision timeout expired."""
        await self._settled.wait()

    def redact(self, start: int, end: int, reason: str) -> str | None:
        """Apply a ``redact`` decision; ``None`` when the span was already delivered.

        Returns the text the decision releases (possibly empty) and counts the redaction.
        """
        before = self.buffer.redactions
        out = self.buffer.redact(start, end, reason)
        if out is None:
            return None
        self.metrics.redactions.labels(self.route, "decision").inc(
            self.buffer.redactions - before)
        return self._settle(out)

    def stop(self) -> None:
        """Stop the stream: drop what is held and stop waiting."""
        self._over = True
        self.buffer.stop()
        self._settled.set()

    def close(self) -> None:
        """Close at the stream's end: the timer will not fire."""
        self._over = True
        if self._timer is not None:
            self._timer.cancel()

    def _settle(self, out: str) -> str:
        """Redact at once when no job can decide, else (re)arm the decision timer."""
        if self._no_job and self.buffer.pending_match():
            out += self._expire()
        self._arm_timer()
        return out

    def _expire(self) -> str:
        """No decision (in time): release the held matches or redact them locally."""
        before = self.buffer.redactions
        out = self.buffer.expire(self.config.fail_closed)
        if self.buffer.redactions > before:
            self.metrics.redactions.labels(self.route, "local").inc(
                self.buffer.redactions - before)
        return out

    def _arm_timer(self) -> None:
        pending = self.buffer.pending_match()
        if pending and self._timer is None:
            self._settled.clear()
            self._timer = self._loop.call_later(self.config.decision_timeout, self.spawn,
                                                self._on_timeout)
        elif not pending:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._settled.set()

    async def _on_timeout(self) -> None:
        async with self.lock:
            self._timer = None
            if self._over:
                self._settled.set()
                return
            if self.buffer.pending_match():
                mode = "closed" if self.config.fail_closed else "open"
                self.metrics.decision_timeouts.labels(mode).inc()
                out = self._expire()
                log.info("stream %s: no decision within %.3fs, %s", self.stream_id,
                         self.config.decision_timeout,
                         "redacted locally (fail closed)" if self.config.fail_closed
                         else "released (fail open)")
                if out:
                    await self.emit(out)
            self._arm_timer()

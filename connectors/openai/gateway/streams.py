"""One proxied response while it streams: tap, hold-back, decisions, stop, and the client's bytes.

:class:`LiveStream` owns everything one response needs: the
:class:`~midstream.connectors.openai.publisher.TokenPublisher` (the tap), the
:class:`~midstream.connectors.openai.gateway.redaction.RedactionBuffer` (hold-back), its
registration with the :class:`~midstream.connectors.openai.control.ControlFollower`, the
decision timer, and the writes to the client. The wire format is the
subclass's business (:mod:`.chat`, :mod:`.responses`).

Concurrency: the upstream reader, control decisions (handed over from the
follower's thread with ``call_soon_threadsafe``) and the decision timer all
run on the event loop and take :attr:`LiveStream.lock` before touching the
stream, so the client's bytes are never interleaved.

What a ``stop`` does: the client gets a clean end in its own format (Chat
Completions: a final chunk with ``finish_reason: "content_filter"``, OpenAI's
value for "stopped by a policy", then the usage chunk if it asked for usage,
then ``data: [DONE]``; Responses: ``response.incomplete`` with
``incomplete_details.reason = "content_filter"``), and the upstream request is
closed so that generation stops. Tokens saved are estimated as the request's
token limit (``max_completion_tokens``, ``max_tokens`` or ``max_output_tokens``)
minus the chunks received from the upstream; without a limit nothing is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from confluent_kafka import Producer

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.connectors.openai.gateway.metrics import GatewayMetrics
from midstream.connectors.openai.gateway.redaction import RedactionBuffer
from midstream.connectors.openai.gateway.sse import SseEvent, SseSplitter
from midstream.connectors.openai.publisher import TokenPublisher
from midstream.operators.holdback import HoldBack

log = logging.getLogger(__name__)

STREAM_ID_HEADER = "x-midstream-stream-id"
LATE_GRACE_SECONDS = 30.0
"""How long an ended stream's late decisions are still counted in the gateway's metric."""
STOP_FINISH_REASON = "content_filter"
"""The ``finish_reason`` of a stream MidStream stopped: OpenAI's value for "stopped by a policy"."""


@dataclass
class Services:
    """What every stream shares: settings, metrics, the tap and the control follower."""

    config: GatewayConfig
    metrics: GatewayMetrics
    holdback: HoldBack | None
    """The redaction hold-back; None when nothing is held (no redact rules, or no job to ask)."""
    producer: Producer | None
    follower: ControlFollower | None
    tokens_topic: str
    live: dict[str, LiveStream] = field(default_factory=dict)
    """Streams being proxied, by stream id."""


def token_limit(body: dict[str, Any]) -> int | None:
    """The request's output-token limit, if it set one.

    >>> token_limit({"max_tokens": 50}), token_limit({"max_output_tokens": 9}), token_limit({})
    (50, 9, None)
    """
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class LiveStream:
    """Base of the per-format streams; see the module docstring.

    Parameters
    ----------
    services
        Shared services.
    route
        ``chat`` or ``responses`` (a metric label).
    body
        The client's request.
    started
        ``time.monotonic()`` when the request arrived.
    """

    route = "chat"

    def __init__(self, services: Services, body: dict[str, Any], started: float) -> None:
        self.services = services
        self.config = services.config
        self.metrics = services.metrics
        self.body = body
        self.started = started
        self.model: str | None = body.get("model") if isinstance(body.get("model"), str) else None
        self.lock = asyncio.Lock()
        self.stream_id: str | None = None
        self.publisher: TokenPublisher | None = None
        self.response: web.StreamResponse | None = None
        self.upstream: aiohttp.ClientResponse | None = None
        self.buffer: RedactionBuffer | None = None
        if services.holdback is not None:
            labels = self.route
            self.buffer = RedactionBuffer(
                services.holdback, marker=self.config.redact_marker,
                on_hold_seconds=self.metrics.holdback_seconds.labels(labels).observe)
        self.collected: list[str] = []
        """Text released to the client (every write and every collect)."""
        self.stopped = False
        self.stop_reason: str | None = None
        self.closed = False
        self.client_gone = False
        self.upstream_chunks = 0
        """Content chunks received from the upstream."""
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_write: float | None = None
        self._loop = asyncio.get_running_loop()
        self.tool_publishers: dict[int, TokenPublisher] = {}
        """Each tool call's arguments, tapped as a stream of its own (``<id>.tool<index>``)."""

    # -- lifecycle ----------------------------------------------------------------------------

    def begin(self, stream_id: str | None) -> None:
        """The upstream named the stream (or did not): start the tap and follow decisions."""
        self.stream_id = stream_id or f"mgw-{uuid.uuid4().hex}"
        s = self.services
        self.publisher = TokenPublisher(s.producer, s.tokens_topic, self.stream_id,
                                        provider=self.config.provider, model=self.model)
        self.publisher.start(meta={"source": "gateway", "route": self.route})
        s.live[self.stream_id] = self
        if s.follower is not None:
            s.follower.register(self.stream_id, self._from_follower)

    def end(self) -> None:
        """The stream is over for the client: stop following it and close the tap."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        s = self.services
        if self.stream_id is not None and s.live.get(self.stream_id) is self:
            del s.live[self.stream_id]
        if s.follower is not None and self.stream_id is not None:
            # Decisions still in flight reach apply() for a while, which counts them as late
            # (a metric) and logs how much was delivered; then the follower takes over.
            self._loop.call_later(LATE_GRACE_SECONDS, s.follower.unregister, self.stream_id,
                                  self.delivered_chars)
        if self.publisher is not None:
            meta: dict[str, Any] = {}
            if self.stop_reason is not None:
                meta["stopped_by"] = self.stop_reason
            if self.client_gone:
                meta["client_disconnected"] = True
            finish = STOP_FINISH_REASON if self.stopped else self.finish_reason
            self.publisher.end(finish_reason=finish, usage=self.usage, meta=meta or None)
        self._end_tool_streams()
        labels = self.metrics.labels(self.route, self.config.provider, self.model)
        self.metrics.operation_duration.labels(*labels).observe(time.monotonic() - self.started)
        if self.usage:
            for kind, names in (("input", ("prompt_tokens", "input_tokens")),
                                ("output", ("completion_tokens", "output_tokens"))):
                for name in names:
                    value = self.usage.get(name)
                    if isinstance(value, int):
                        self.metrics.token_usage.labels(*labels, kind).observe(value)
                        break

    def tap_tool_arguments(self, index: int, name: str | None, fragment: str) -> None:
        """Tap a tool call's argument fragment into that call's own token stream.

        The arguments are a text of their own (JSON the model writes), so they get
        their own stream id, ``<stream id>.tool<index>``, and the job's rules and
        loop detector see them without shifting the offsets of the answer's text,
        which redaction spans refer to. A ``stop`` decided on a tool call's
        arguments stops the whole response; ``redact`` does not apply to them (the
        gateway forwards tool-call fragments unchanged) and is only logged.
        """
        publisher = self.tool_publishers.get(index)
        if publisher is None:
            s = self.services
            parent = self.stream_id or "unnamed"
            publisher = TokenPublisher(s.producer, s.tokens_topic, f"{parent}.tool{index}",
                                       provider=self.config.provider, model=self.model)
            meta: dict[str, Any] = {"source": "gateway", "route": self.route,
                                    "parent_stream_id": parent, "tool_call_index": index}
            if name:
                meta["tool_name"] = name
            publisher.start(meta=meta)
            self.tool_publishers[index] = publisher
            if s.follower is not None:
                s.follower.register(publisher.stream_id, self._from_tool_follower)
        if fragment:
            publisher.delta(fragment)

    def _from_tool_follower(self, record: dict[str, Any]) -> None:
        if record.get("action") == "stop":
            self._from_follower(record)
        else:
            log.info("%s decision on tool-call arguments of stream %s not applied: "
                     "the gateway forwards tool calls unchanged", record.get("action"),
                     self.stream_id)

    def _end_tool_streams(self) -> None:
        s = self.services
        for publisher in self.tool_publishers.values():
            finish = STOP_FINISH_REASON if self.stopped else self.finish_reason
            publisher.end(finish_reason=finish)
            if s.follower is not None:
                self._loop.call_later(LATE_GRACE_SECONDS, s.follower.unregister,
                                      publisher.stream_id, publisher.chars)

    @property
    def delivered_chars(self) -> int:
        """Characters of text delivered to the client."""
        return sum(len(t) for t in self.collected)

    # -- text ---------------------------------------------------------------------------------

    def take_text(self, text: str) -> str:
        """Tap an upstream text delta; return what the client may have now."""
        self.upstream_chunks += 1
        if self.publisher is not None:
            self.publisher.delta(text)
        if self.buffer is None:
            return text
        out = self.buffer.feed(text)
        self._arm_timer()
        return out

    def finish_text(self) -> str:
        """The upstream's text ended; partial matches are released."""
        if self.buffer is None:
            return ""
        out = self.buffer.finish()
        self._arm_timer()
        return out

    @property
    def waiting(self) -> bool:
        """Whether a held complete match still waits for its decision."""
        return not self._settled.is_set()

    async def wait_decisions(self) -> None:
        """Wait until held matches are decided or the decision timeout expired."""
        await self._settled.wait()

    def _arm_timer(self) -> None:
        assert self.buffer is not None
        pending = self.buffer.pending_match()
        if pending and self._timer is None:
            self._settled.clear()
            self._timer = self._loop.call_later(self.config.decision_timeout, self._spawn,
                                                self._on_timeout)
        elif not pending:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._settled.set()

    async def _on_timeout(self) -> None:
        async with self.lock:
            self._timer = None
            if self.buffer is None or self.closed or self.stopped:
                self._settled.set()
                return
            if self.buffer.pending_match():
                mode = "closed" if self.config.fail_closed else "open"
                self.metrics.decision_timeouts.labels(mode).inc()
                before = self.buffer.redactions
                out = self.buffer.expire(self.config.fail_closed)
                if self.buffer.redactions > before:
                    self.metrics.redactions.labels(self.route, "local").inc(
                        self.buffer.redactions - before)
                log.info("stream %s: no decision within %.3fs, %s", self.stream_id,
                         self.config.decision_timeout,
                         "redacted locally (fail closed)" if self.config.fail_closed
                         else "released (fail open)")
                if out:
                    await self.emit_text(out)
            self._arm_timer()

    # -- decisions ----------------------------------------------------------------------------

    def _from_follower(self, record: dict[str, Any]) -> None:
        # Called on the follower's thread.
        self._loop.call_soon_threadsafe(self._spawn, lambda: self.apply(record))

    def _spawn(self, make: Callable[[], Any]) -> None:
        task = asyncio.ensure_future(make())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def apply(self, record: dict[str, Any]) -> None:
        """Apply one control decision to this stream."""
        action = record.get("action")
        reason = str(record.get("reason") or "policy")
        async with self.lock:
            if self.closed:
                self.metrics.late_decisions.labels(str(action)).inc()
                log.warning("late %s decision (%s) for stream %s: it had ended, %d characters "
                            "in %d chunks (about one token each) delivered", action, reason,
                            self.stream_id, self.delivered_chars, len(self.collected))
                return
            if action == "stop":
                await self._stop(reason)
            elif action == "redact":
                await self._redact(record, reason)

    async def _redact(self, record: dict[str, Any], reason: str) -> None:
        span = record.get("span")
        if not isinstance(span, dict) or self.stopped:
            return
        start, end = span.get("start"), span.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            return
        out = None
        before = 0
        if self.buffer is not None:
            before = self.buffer.redactions
            out = self.buffer.redact(start, end, reason)
        if out is None:
            self.metrics.late_decisions.labels("redact").inc()
            log.warning("late redact decision (%s) for stream %s: characters %d-%d had already "
                        "been delivered", reason, self.stream_id, start, end)
            return
        assert self.buffer is not None
        self.metrics.redactions.labels(self.route, "decision").inc(
            self.buffer.redactions - before)
        self._arm_timer()
        if out:
            await self.emit_text(out)

    async def _stop(self, reason: str) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.stop_reason = reason
        if self.buffer is not None:
            self.buffer.stop()
        self._settled.set()
        self.metrics.stops.labels(self.route).inc()
        limit = token_limit(self.body)
        if limit is not None:
            saved = max(0, limit - self.upstream_chunks)
            self.metrics.tokens_saved.labels(self.route).inc(saved)
        if self.upstream is not None:
            self.upstream.close()  # closes the connection: the upstream sees the cancel
        log.info("stream %s stopped by MidStream (%s) after %d chunks", self.stream_id, reason,
                 self.upstream_chunks)
        if self.response is not None:
            await self.write(self.stop_frames())

    # -- writing ------------------------------------------------------------------------------

    async def write(self, payload: bytes) -> None:
        """Send bytes to the client (a gone client ends the stream and the upstream)."""
        if self.response is None or self.client_gone or not payload:
            return
        try:
            await self.response.write(payload)
        except (ConnectionError, RuntimeError):
            self.client_gone = True
            if self.upstream is not None:
                self.upstream.close()

    async def emit_text(self, text: str) -> None:
        """Deliver released text, in a synthesized event of the stream's format."""
        self.collected.append(text)
        self._observe_chunk()
        if self.response is not None:
            await self.write(self.text_event(text))

    def delivered(self, text: str) -> None:
        """Record text that went to the client inside a forwarded upstream event."""
        self.collected.append(text)
        self._observe_chunk()

    def _observe_chunk(self) -> None:
        now = time.monotonic()
        if self._last_write is None:
            labels = self.metrics.labels(self.route, self.config.provider, self.model)
            self.metrics.time_to_first_chunk.labels(*labels).observe(now - self.started)
            # Looked up once per stream: labels() costs more than observe() per chunk.
            self._per_chunk = self.metrics.time_per_output_chunk.labels(*labels)
        else:
            self._per_chunk.observe(now - self._last_write)
        self._last_write = now

    # -- the format's part ----------------------------------------------------------------------

    def text_event(self, text: str) -> bytes:
        """A synthesized event carrying ``text`` (released after being held)."""
        raise NotImplementedError

    def stop_frames(self) -> bytes:
        """The clean end of a stopped stream."""
        raise NotImplementedError

    def error_frames(self, message: str, code: str) -> bytes:
        """An error event and the clean end after it (the upstream failed mid-stream)."""
        raise NotImplementedError

    async def on_event(self, event: SseEvent) -> bool:
        """Handle one upstream event (under :attr:`lock`).

        Returns False, without sending it, for the event ending the text while a
        held match waits for its decision: the caller hands it back afterwards.
        """
        raise NotImplementedError

    @property
    def complete(self) -> bool:
        """Whether the upstream's stream reached its normal end."""
        raise NotImplementedError

    # -- the proxy loop -----------------------------------------------------------------------

    async def prepare(self, request: web.Request) -> None:
        """Send the response headers (once the stream id is known)."""
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            STREAM_ID_HEADER: self.stream_id or "",
        })
        await response.prepare(request)
        self.response = response

    async def run(self, request: web.Request, upstream: aiohttp.ClientResponse
                  ) -> web.StreamResponse:
        """Proxy the upstream's event stream to the client until it ends or is stopped."""
        self.upstream = upstream
        self.request = request
        splitter = SseSplitter()
        deferred: list[SseEvent] = []
        died: str | None = None
        try:
            async for data in upstream.content.iter_any():
                events = splitter.feed(data)
                if not events:
                    continue
                async with self.lock:
                    if self.stopped or self.client_gone:
                        break
                    for event in events:
                        # After the text's end, a held match waits for its decision: the
                        # rest of the stream (finish, usage, end) waits behind it.
                        if deferred or not await self.on_event(event):
                            deferred.append(event)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if not self.stopped and not self.client_gone:
                died = type(exc).__name__
        try:
            if deferred and not self.stopped:
                await self.wait_decisions()
                async with self.lock:
                    for event in deferred:
                        if self.stopped:
                            break
                        await self.on_event(event)
            async with self.lock:
                if not self.stopped and not self.client_gone and (died or not self.complete):
                    self.metrics.upstream_errors.labels("died_mid_stream").inc()
                    log.warning("stream %s: the upstream connection ended mid-stream (%s)",
                                self.stream_id, died or "no end of stream")
                    if self.response is None:
                        await self.prepare(request)
                    await self.write(self.error_frames(
                        "The upstream connection was lost mid-stream; the response is "
                        "incomplete.", "upstream_disconnected"))
                self.end()
            if self.response is not None and not self.client_gone:
                try:
                    await self.response.write_eof()
                except (ConnectionError, RuntimeError):
                    self.client_gone = True
        finally:
            upstream.release()
            self.end()
        if self.response is None:
            await self.prepare(request)
        assert self.response is not None
        return self.response

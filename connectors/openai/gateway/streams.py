"""One proxied response while it streams: a thin composition of tap, hold-back, decisions and client.

:class:`LiveStream` puts together what one response needs, each part in a module of
its own: the :class:`~midstream.connectors.openai.gateway.tap.StreamTap` (token
streams and their registration with the control follower), the
:class:`~midstream.connectors.openai.gateway.held_text.HeldText` (hold-back and
decision timer), the :class:`~midstream.connectors.openai.gateway.decisions.StreamDecisions`
(control records from the follower's thread) and the
:class:`~midstream.connectors.openai.gateway.client_writer.ClientWriter` (the client's
bytes). It keeps what ties them together: the lock, the stop, the end, and the proxy
loop. The wire format is the subclass's business (:mod:`.chat`, :mod:`.responses`).

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
from typing import Any

import aiohttp
from aiohttp import web

from midstream.connectors.openai.gateway.client_writer import ClientWriter
from midstream.connectors.openai.gateway.decisions import StreamDecisions
from midstream.connectors.openai.gateway.held_text import HeldText
from midstream.connectors.openai.gateway.redaction import RedactionBuffer
from midstream.connectors.openai.gateway.services import (
    LATE_GRACE_SECONDS,
    STOP_FINISH_REASON,
    STREAM_ID_HEADER,
    Services,
    token_limit,
)
from midstream.connectors.openai.gateway.sse import SseEvent, SseSplitter
from midstream.connectors.openai.gateway.tap import StreamTap

__all__ = ["LATE_GRACE_SECONDS", "STOP_FINISH_REASON", "STREAM_ID_HEADER", "LiveStream",
           "Services", "token_limit"]

log = logging.getLogger(__name__)


class LiveStream:
    """Base of the per-format streams; see the module docstring.

    Parameters
    ----------
    services
        Shared services.
    body
        The client's request.
    started
        ``time.monotonic()`` when the request arrived.

    Attributes
    ----------
    route
        ``chat`` or ``responses`` (a metric label), set by the subclass.
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
        self.upstream: aiohttp.ClientResponse | None = None
        self.decisions = StreamDecisions(self, self.metrics)
        self.tap = StreamTap(services, self.route, self.decisions.from_follower)
        self.client = ClientWriter(
            self.metrics, lambda: self.metrics.labels(self.route, self.config.provider,
                                                      self.model),
            started, on_gone=self._close_upstream)
        self.buffer: RedactionBuffer | None = None
        self.held: HeldText | None = None
        if services.holdback is not None:
            self.buffer = RedactionBuffer(
                services.holdback, marker=self.config.redact_marker,
                on_hold_seconds=self.metrics.holdback_seconds.labels(self.route).observe,
                on_wait_seconds=self.metrics.holdback_wait_seconds.labels(self.route).observe)
            self.held = HeldText(self.buffer, config=self.config, metrics=self.metrics,
                                 route=self.route, lock=self.lock, emit=self.emit_text,
                                 spawn=self.decisions.spawn, job=services.job)
        self.stopped = False
        self.stop_reason: str | None = None
        self.closed = False
        self.upstream_chunks = 0
        """Content chunks received from the upstream."""
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    # -- what the parts hold --------------------------------------------------------------------

    @property
    def response(self) -> web.StreamResponse | None:
        """The response to the client, once its headers are sent."""
        return self.client.response

    @property
    def client_gone(self) -> bool:
        """Whether a write found the client gone."""
        return self.client.gone

    @property
    def collected(self) -> list[str]:
        """Text released to the client (every write and every collect)."""
        return self.client.collected

    @property
    def delivered_chars(self) -> int:
        """Characters of text delivered to the client."""
        return self.client.delivered_chars

    # -- lifecycle ----------------------------------------------------------------------------

    def begin(self, stream_id: str | None) -> None:
        """Begin once the upstream named the stream (or did not): start the tap and follow decisions."""
        self.stream_id = stream_id or f"mgw-{uuid.uuid4().hex}"
        if self.held is not None:
            self.held.stream_id = self.stream_id
        self.tap.start(self.stream_id, self.model)
        self.services.live[self.stream_id] = self

    def end(self) -> None:
        """End the stream for the client: stop following it and close the tap."""
        if self.closed:
            return
        self.closed = True
        if self.held is not None:
            self.held.close()
        live = self.services.live
        if self.stream_id is not None and live.get(self.stream_id) is self:
            del live[self.stream_id]
        meta: dict[str, Any] = {}
        if self.stop_reason is not None:
            meta["stopped_by"] = self.stop_reason
        if self.client_gone:
            meta["client_disconnected"] = True
        self.tap.end(stopped=self.stopped, finish_reason=self.finish_reason, usage=self.usage,
                     meta=meta or None, delivered_chars=self.delivered_chars)
        self._observe_operation()

    def _observe_operation(self) -> None:
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

        See :meth:`~midstream.connectors.openai.gateway.tap.StreamTap.tool_arguments`.
        """
        self.tap.tool_arguments(index, name, fragment, self.model)

    # -- text ---------------------------------------------------------------------------------

    def take_text(self, text: str) -> str:
        """Tap an upstream text delta; return what the client may have now."""
        self.upstream_chunks += 1
        self.tap.delta(text)
        if self.held is None:
            return text
        return self.held.feed(text)

    def finish_text(self) -> str:
        """End the upstream's text; partial matches are released."""
        if self.held is None:
            return ""
        return self.held.finish()

    @property
    def waiting(self) -> bool:
        """Whether a held complete match still waits for its decision."""
        return self.held is not None and self.held.waiting

    async def wait_decisions(self) -> None:
        """Wait until held matches are decided or the decision timeout expired."""
        if self.held is not None:
            await self.held.settled()

    # -- decisions ----------------------------------------------------------------------------

    async def apply(self, record: dict[str, Any]) -> None:
        """Apply one control decision to this stream."""
        await self.decisions.apply(record)

    async def redact(self, start: int, end: int, reason: str) -> None:
        """Redact characters ``start..end`` of the answer, if they are still held."""
        if self.stopped:
            return
        out = self.held.redact(start, end, reason) if self.held is not None else None
        if out is None:
            self.metrics.late_decisions.labels("redact").inc()
            log.warning("late redact decision (%s) for stream %s: characters %d-%d had already "
                        "been delivered", reason, self.stream_id, start, end)
            return
        if out:
            await self.emit_text(out)

    async def stop(self, reason: str) -> None:
        """Stop the stream: a clean end for the client, and the upstream closed."""
        if self.stopped:
            return
        self.stopped = True
        self.stop_reason = reason
        if self.held is not None:
            self.held.stop()
        self.metrics.stops.labels(self.route).inc()
        limit = token_limit(self.body)
        if limit is not None:
            saved = max(0, limit - self.upstream_chunks)
            self.metrics.tokens_saved.labels(self.route).inc(saved)
        self._close_upstream()  # closes the connection: the upstream sees the cancel
        log.info("stream %s stopped by MidStream (%s) after %d chunks", self.stream_id, reason,
                 self.upstream_chunks)
        if self.response is not None:
            await self.write(self.stop_frames())

    def _close_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()

    # -- writing ------------------------------------------------------------------------------

    async def write(self, payload: bytes) -> None:
        """Send bytes to the client (a gone client ends the stream and the upstream)."""
        await self.client.write(payload)

    async def emit_text(self, text: str) -> None:
        """Deliver released text, in a synthesized event of the stream's format."""
        self.client.delivered(text)
        if self.response is not None:
            await self.write(self.text_event(text))

    def delivered(self, text: str) -> None:
        """Record text that went to the client inside a forwarded upstream event."""
        self.client.delivered(text)

    # -- the format's part ----------------------------------------------------------------------

    def text_event(self, text: str) -> bytes:
        """Synthesize an event carrying ``text`` (released after being held)."""
        raise NotImplementedError

    def stop_frames(self) -> bytes:
        """Return the clean end of a stopped stream."""
        raise NotImplementedError

    def error_frames(self, message: str, code: str) -> bytes:
        """Return an error event and the clean end after it (the upstream failed mid-stream)."""
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
        await self.client.prepare(request, self.stream_id)

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
            await self.client.write_eof()
        finally:
            upstream.release()
            self.end()
        if self.response is None:
            await self.prepare(request)
        assert self.response is not None
        return self.response

"""The client's side of one proxied stream: its headers, its bytes, and the text it received.

:class:`ClientWriter` sends the event-stream headers once the stream id is known, writes
bytes until the client goes away, records the text delivered (every write and every
collect) and times it: time to the first chunk and time between chunks, the
OpenTelemetry GenAI client metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Histogram

from midstream.connectors.openai.gateway.services import STREAM_ID_HEADER
from midstream.core.metrics import GatewayMetrics


class ClientWriter:
    """Writes one stream's bytes to its client and records what it delivered.

    Parameters
    ----------
    metrics
        Where the chunk timings are observed.
    labels
        The current ``(route, provider, model)`` labels (the model may be learnt late).
    started
        ``time.monotonic()`` when the request arrived.
    on_gone
        Called once the client is found gone (a failed write).
    """

    def __init__(self, metrics: GatewayMetrics, labels: Callable[[], tuple[str, str, str]],
                 started: float, on_gone: Callable[[], None]) -> None:
        self.metrics = metrics
        self.labels = labels
        self.started = started
        self.on_gone = on_gone
        self.response: web.StreamResponse | None = None
        self.gone = False
        self.collected: list[str] = []
        """Text released to the client (every write and every collect)."""
        self._last_write: float | None = None
        self._per_chunk: Histogram | None = None

    async def prepare(self, request: web.Request, stream_id: str | None) -> None:
        """Send the response headers (once the stream id is known)."""
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            STREAM_ID_HEADER: stream_id or "",
        })
        await response.prepare(request)
        self.response = response

    async def write(self, payload: bytes) -> None:
        """Send bytes to the client (a gone client is remembered and reported once)."""
        if self.response is None or self.gone or not payload:
            return
        try:
            await self.response.write(payload)
        except (ConnectionError, RuntimeError):
            self.gone = True
            self.on_gone()

    async def write_eof(self) -> None:
        """End the response, unless the client is gone."""
        if self.response is not None and not self.gone:
            try:
                await self.response.write_eof()
            except (ConnectionError, RuntimeError):
                self.gone = True

    def delivered(self, text: str) -> None:
        """Record text that went (or goes) to the client, and time the chunk."""
        self.collected.append(text)
        now = time.monotonic()
        if self._per_chunk is None or self._last_write is None:
            labels = self.labels()
            self.metrics.time_to_first_chunk.labels(*labels).observe(now - self.started)
            # Looked up once per stream: labels() costs more than observe() per chunk.
            self._per_chunk = self.metrics.time_per_output_chunk.labels(*labels)
        else:
            self._per_chunk.observe(now - self._last_write)
        self._last_write = now

    @property
    def delivered_chars(self) -> int:
        """Characters of text delivered to the client."""
        return sum(len(t) for t in self.collected)

"""The Realtime relay: clients connect to MidStream, MidStream connects to the upstream.

Clients open ``ws://<relay>/v1/realtime?model=...`` with MidStream's own client
key (``Authorization: Bearer <key>``, or the browser subprotocol
``openai-insecure-api-key.<key>``). The relay opens the upstream WebSocket
with the upstream key, forwarding the client's query string, ``OpenAI-Beta``
header (which picks the beta protocol) and subprotocols (minus the one that
carries the client key). From then on every frame passes both ways unchanged:
text frames are relayed as the same UTF-8 text, binary frames as the same
bytes, and a close on either side closes the other with the same code. The
only frames the relay drops are output deltas of a response MidStream stopped
(see :mod:`midstream.connectors.openai.realtime.session`); the only frames it adds are
its own ``response.cancel`` and ``conversation.item.truncate`` upstream.

A refused connection gets an OpenAI-style JSON error before any upgrade:
401 for a missing or wrong client key, 429 past the key's connection rate
or concurrent-session limit, 502 when the upstream cannot be
reached, or the upstream's own status when it refuses the handshake. The
upstream key never appears in a log line, an error or a repr.

``/metrics`` serves the relay's Prometheus metrics.

Examples
--------
>>> import asyncio
>>> from prometheus_client import CollectorRegistry
>>> from midstream.connectors.openai.realtime.config import RelayConfig
>>> async def demo():
...     config = RelayConfig(upstream="ws://127.0.0.1:9/v1/realtime",
...                          client_keys=frozenset({"k"}), port=0)
...     relay = RealtimeRelay(config, metrics=RelayMetrics(CollectorRegistry()))
...     url = await relay.start()
...     await relay.close()
...     return url.startswith("ws://127.0.0.1:")
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from confluent_kafka import Producer
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.gateway.auth import RateLimiter
from midstream.connectors.openai.realtime.config import RelayConfig
from midstream.connectors.openai.realtime.session import SessionTap
from midstream.core.metrics import RelayMetrics

log = logging.getLogger(__name__)

KEY_PROTOCOL = "openai-insecure-api-key."
FORWARDED_HEADERS = ("OpenAI-Beta", "OpenAI-Organization", "OpenAI-Project")
UPSTREAM_CONNECT_SECONDS = 15.0


def parse_frame(text: str) -> dict[str, Any] | None:
    """Parse a text frame's JSON object, or None (such frames are relayed, never tapped).

    Never raises, whatever the frame: deeply nested JSON is not an event.

    >>> parse_frame('{"type": "response.done"}')
    {'type': 'response.done'}
    >>> parse_frame("[" * 100_000) is None
    True
    """
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _sendable(code: int | None) -> int:
    """Return a close code that may be sent on: 1005, 1006 and 1015 are reserved for reporting."""
    if code is None or code in (1005, 1006, 1015) or not 1000 <= code <= 4999:
        return 1000
    return code


def error_response(status: int, message: str, code: str,
                   kind: str = "invalid_request_error") -> web.Response:
    """Make an OpenAI-style JSON error."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


class RealtimeRelay:
    """The relay server.

    Parameters
    ----------
    config
        Listening address, upstream, keys, topics.
    producer
        Kafka producer for token events (None: the tap is off; the relay still relays).
    follower
        A started control follower (None: no acting mid-stream).
    metrics
        Where to count (default: metrics in ``registry``).
    registry
        The registry ``/metrics`` serves.
    """

    def __init__(self, config: RelayConfig, *, producer: Producer | None = None,
                 follower: ControlFollower | None = None, metrics: RelayMetrics | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.config = config
        self.producer = producer
        self.follower = follower
        self.registry = registry
        self.metrics = metrics if metrics is not None else RelayMetrics(registry)
        self.sessions: list[SessionTap] = []
        """Sessions of this relay, most recent last (kept for inspection; bounded)."""
        # Keys are held once, with an opaque id (a hash prefix) for the per-key limits.
        self._keys = tuple((k.encode(), hashlib.sha256(k.encode()).hexdigest()[:16])
                           for k in sorted(config.client_keys))
        self._limiter = RateLimiter(config.connections_per_second, config.connection_burst)
        self._open_per_key: dict[str, int] = {}
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app = web.Application()
        self.app.router.add_get("/v1/realtime", self._relay)
        self.app.router.add_get("/metrics", self._metrics)
        self.port = config.port

    def __repr__(self) -> str:
        return f"RealtimeRelay(upstream={self.config.upstream!r}, port={self.port})"

    async def start(self) -> str:
        """Listen; returns the relay's base URL (``ws://host:port``)."""
        self._client = aiohttp.ClientSession()
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # port 0: the one the OS picked
        return f"ws://{self.config.host}:{self.port}"

    async def close(self) -> None:
        """Close every relayed connection and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            content_type="text/plain", charset="utf-8")

    def _identify(self, request: web.Request) -> tuple[str | None, list[str]]:
        """Return the id of the client's valid key (None: no valid key); subprotocols to forward."""
        offered: list[str] = []
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                     if p.strip()]
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            offered.append(header[len("Bearer "):].strip())
        forwarded = []
        for protocol in protocols:
            if protocol.startswith(KEY_PROTOCOL):
                offered.append(protocol[len(KEY_PROTOCOL):])
            else:
                forwarded.append(protocol)
        found = None
        for candidate in offered:
            for key, key_id in self._keys:  # no early exit: the time does not depend on the key
                if hmac.compare_digest(candidate.encode(), key):
                    found = key_id
        return found, forwarded

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        key_id, protocols = self._identify(request)
        if key_id is None:
            self.metrics.refused.labels("unauthorized").inc()
            return error_response(401, "Incorrect or missing MidStream client key.",
                                  "invalid_api_key")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            self.metrics.refused.labels("bad_request").inc()
            return error_response(400, "This endpoint speaks WebSocket only.", "bad_request")
        if self._open_per_key.get(key_id, 0) >= self.config.max_sessions_per_key:
            self.metrics.refused.labels("too_many_sessions").inc()
            return error_response(429, "Too many open Realtime sessions for this key.",
                                  "rate_limit_exceeded", "rate_limit_error")
        wait = self._limiter.check(key_id)
        if wait > 0:
            self.metrics.refused.labels("rate_limited").inc()
            response = error_response(429, "Too many new Realtime connections for this key.",
                                      "rate_limit_exceeded", "rate_limit_error")
            response.headers["Retry-After"] = str(max(1, round(wait)))
            return response
        self._open_per_key[key_id] = self._open_per_key.get(key_id, 0) + 1
        try:
            return await self._session(request, protocols)
        finally:
            self._open_per_key[key_id] -= 1
            if not self._open_per_key[key_id]:
                del self._open_per_key[key_id]

    async def _session(self, request: web.Request, protocols: list[str]) -> web.StreamResponse:
        upstream = await self._connect_upstream(request, protocols)
        if isinstance(upstream, web.Response):
            return upstream
        client = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (),
            max_msg_size=self.config.max_message_bytes, autoping=True)
        await client.prepare(request)
        self.metrics.sessions.inc()
        self.metrics.sessions_open.inc()
        loop = asyncio.get_running_loop()
        tap = SessionTap(
            producer=self.producer, topic=self.config.tokens_topic,
            connection_id=uuid.uuid4().hex[:16],
            send_upstream=lambda text: self._spawn(upstream.send_str(text)),
            schedule=loop.call_soon_threadsafe, follower=self.follower, metrics=self.metrics,
            provider=self.config.provider, model=request.query.get("model"))
        self.sessions.append(tap)
        del self.sessions[:-100]
        try:
            await self._pump_both(client, upstream, tap)
        finally:
            tap.close()
            self.metrics.sessions_open.dec()
            await upstream.close()
            await client.close()
        return client

    async def _connect_upstream(self, request: web.Request, protocols: list[str]
                                ) -> aiohttp.ClientWebSocketResponse | web.Response:
        assert self._client is not None, "start() the relay first"
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS
                   if name in request.headers}
        if self.config.upstream_key:
            headers["Authorization"] = f"Bearer {self.config.upstream_key}"
        url = self.config.upstream_url(request.query_string)
        try:
            return await self._client.ws_connect(
                url, headers=headers, protocols=protocols, autoping=True,
                max_msg_size=self.config.max_message_bytes,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                # TLS verification stays on: the default SSL context verifies.
            )
        except aiohttp.WSServerHandshakeError as exc:
            self.metrics.refused.labels("upstream_unreachable").inc()
            log.warning("the upstream refused the Realtime connection (HTTP %s)", exc.status)
            status = exc.status if 400 <= exc.status < 600 else 502
            return error_response(status, f"The upstream refused the Realtime connection "
                                  f"(HTTP {exc.status}).", "upstream_refused", "upstream_error")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.metrics.refused.labels("upstream_unreachable").inc()
            log.warning("cannot reach the Realtime upstream: %s", type(exc).__name__)
            return error_response(502, "The Realtime upstream cannot be reached.",
                                  "upstream_unreachable", "upstream_error")

    async def _pump_both(self, client: web.WebSocketResponse,
                         upstream: aiohttp.ClientWebSocketResponse, tap: SessionTap) -> None:
        down = asyncio.ensure_future(self._downstream(upstream, client, tap))
        up = asyncio.ensure_future(self._upstream(client, upstream, tap))
        try:
            await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (down, up):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _downstream(self, upstream: aiohttp.ClientWebSocketResponse,
                          client: web.WebSocketResponse, tap: SessionTap) -> None:
        """Upstream -> client: relay, then tap."""
        async for message in upstream:
            if message.type == WSMsgType.TEXT:
                text: str = message.data
                if tap.holding_back:
                    # A stopped response is still live: look at the frame before relaying it.
                    event = parse_frame(text)
                    if event is not None and not tap.admit(event):
                        continue  # an output delta of a response MidStream stopped
                    await client.send_str(text)
                else:
                    await client.send_str(text)  # relay first, parse and tap after
                    event = parse_frame(text)
                if event is not None:
                    tap.on_upstream(event)
            elif message.type == WSMsgType.BINARY:
                await client.send_bytes(message.data)
            elif message.type == WSMsgType.ERROR:
                break
        code = upstream.close_code
        await client.close(code=_sendable(code), message=b"upstream closed")

    async def _upstream(self, client: web.WebSocketResponse,
                        upstream: aiohttp.ClientWebSocketResponse, tap: SessionTap) -> None:
        """Client -> upstream: relay, then count."""
        async for message in client:
            if message.type == WSMsgType.TEXT:
                text: str = message.data
                await upstream.send_str(text)
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    tap.on_client(event)
            elif message.type == WSMsgType.BINARY:
                await upstream.send_bytes(message.data)
            elif message.type == WSMsgType.ERROR:
                break
        code = client.close_code
        await upstream.close(code=_sendable(code))

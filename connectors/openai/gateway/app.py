"""The gateway's HTTP server: OpenAI's routes, authenticated, rate-limited, proxied and tapped.

Routes: ``POST /v1/chat/completions`` (streaming and not), ``POST
/v1/responses`` (streaming and not), ``GET /v1/models`` (passed through) and
``GET /metrics`` (Prometheus, no key needed). Every other answer the gateway
gives itself is an OpenAI-style error.

Examples
--------
>>> import asyncio
>>> from prometheus_client import CollectorRegistry
>>> async def demo():
...     config = GatewayConfig(upstream="http://127.0.0.1:9/v1", port=0,
...                            client_keys=frozenset({"k"}))
...     gateway = Gateway(config, registry=CollectorRegistry())
...     host, port = await gateway.start()
...     await gateway.close()
...     return host, port > 0
>>> asyncio.run(demo())
('127.0.0.1', True)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from midstream.connectors.kafka.clients import make_producer
from midstream.connectors.kafka.settings import ClientSettings
from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.gateway import errors
from midstream.connectors.openai.gateway.auth import ClientKeys, RateLimiter, read_key_file
from midstream.connectors.openai.gateway.chat import ChatStream
from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.connectors.openai.gateway.exceptions import GatewayConfigError
from midstream.connectors.openai.gateway.responses import ResponsesStream, replace_text
from midstream.connectors.openai.gateway.streams import STREAM_ID_HEADER, LiveStream, Services
from midstream.connectors.openai.gateway.upstream import (
    check_upstream_url,
    make_session,
    redacted_url,
)
from midstream.core.config import BUNDLED_RULES, Topics
from midstream.core.metrics import GatewayMetrics
from midstream.core.rules_file import load_rules
from midstream.operators.holdback import HoldBack

log = logging.getLogger(__name__)

_PASSED_HEADERS = ("OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta")
KEY_FILE_POLL_SECONDS = 1.0
"""How often the key file is checked for changes (SIGHUP re-reads it at once)."""


class Gateway:
    """The gateway: an aiohttp application plus its upstream session, tap and follower.

    Parameters
    ----------
    config
        Settings (see :class:`~midstream.connectors.openai.gateway.config.GatewayConfig`).
    registry
        Where the metrics are registered (tests pass a fresh one).
    topics
        Kafka topic names (default: ``Topics.from_env()``).
    """

    def __init__(self, config: GatewayConfig, *, registry: CollectorRegistry = REGISTRY,
                 topics: Topics | None = None) -> None:
        check_upstream_url(config.upstream, allow_insecure=config.allow_insecure_upstream)
        if not config.client_keys and not config.client_keys_file:
            raise GatewayConfigError("no client keys: set MIDSTREAM_GATEWAY_KEYS (comma-separated) or "
                              "client_keys in the config file; the gateway is not an open proxy")
        self.config = config
        self.registry = registry
        self.metrics = GatewayMetrics(registry)
        self.topics = topics or Topics.from_env()
        self.keys = ClientKeys(config.client_keys | self._file_keys())
        self._keys_stamp = self._stamp()
        self._watch: asyncio.Task[None] | None = None
        self.limiter = RateLimiter(config.rate_per_second, config.burst)
        rules = load_rules(config.rules_path or str(BUNDLED_RULES))
        holdback = HoldBack(rules)
        # Hold text back only when something can redact it: the job (with Kafka), or the
        # gateway itself (fail closed). Without either, holding would only add latency.
        use_holdback = holdback.active and (config.brokers is not None or config.fail_closed)
        self.services = Services(config=config, metrics=self.metrics,
                                 holdback=holdback if use_holdback else None, producer=None,
                                 follower=None, tokens_topic=self.topics.tokens,
                                 job=config.brokers is not None)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.host = config.host
        self.port = config.port
        self.metrics_port: int | None = None

    def __repr__(self) -> str:
        return (f"Gateway(listen={self.host}:{self.port}, "
                f"upstream={redacted_url(self.config.upstream)!r}, keys={len(self.keys)})")

    # -- client keys --------------------------------------------------------------------------

    def _file_keys(self) -> frozenset[str]:
        path = self.config.client_keys_file
        return read_key_file(path) if path else frozenset()

    def _stamp(self) -> tuple[int, int, int] | None:
        path = self.config.client_keys_file
        if not path:
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def reload_keys(self) -> bool:
        """Re-read the key file; keep the current keys when it cannot be read. Returns success."""
        self._keys_stamp = self._stamp()
        try:
            keys = ClientKeys(self.config.client_keys | self._file_keys())
        except GatewayConfigError as exc:
            log.warning("client keys not reloaded, the current ones stay: %s", exc)
            return False
        if not len(keys):
            log.warning("client keys not reloaded: the key file has none")
            return False
        self.keys = keys
        log.info("client keys reloaded: %d keys", len(keys))
        return True

    async def _watch_keys(self, every: float = KEY_FILE_POLL_SECONDS) -> None:
        while True:
            await asyncio.sleep(every)
            if self._stamp() != self._keys_stamp:
                self.reload_keys()

    # -- lifecycle ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        # Bodies are read and limited by the handlers (an OpenAI-style 413); this is a backstop.
        app = web.Application(client_max_size=self.config.max_body_bytes + 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        if self.config.metrics_port is None:
            app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> tuple[str, int]:
        """Connect to Kafka (when configured), then listen; return the bound host and port."""
        config = self.config
        if config.brokers:
            kafka = ClientSettings(config.brokers, config.kafka_settings)
            self.services.producer = make_producer(kafka)
            follower = ControlFollower(kafka, self.topics.control)
            follower.start()
            self.services.follower = follower
            ready = await asyncio.to_thread(follower.ready.wait, 30.0)
            if not ready:
                log.warning("the control follower is not assigned yet; decisions may be missed "
                            "until it is")
        if config.client_keys_file:
            self._watch = asyncio.create_task(self._watch_keys())
            # Not in the main thread (tests), signals cannot be handled: polling only.
            with contextlib.suppress(RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_keys)
        self._session = make_session(config.upstream_timeout)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, config.host, config.port)
        await site.start()
        self.port = _bound_port(site)
        if config.metrics_port is not None:
            metrics_app = web.Application()
            metrics_app.router.add_get("/metrics", self._metrics)
            self._metrics_runner = web.AppRunner(metrics_app, access_log=None)
            await self._metrics_runner.setup()
            metrics_site = web.TCPSite(self._metrics_runner, config.host, config.metrics_port)
            await metrics_site.start()
            self.metrics_port = _bound_port(metrics_site)
        log.info("gateway listening on %s:%d, upstream %s, tap %s, hold-back %s",
                 config.host, self.port, redacted_url(config.upstream),
                 "on" if config.brokers else "off",
                 "on" if self.services.holdback is not None else "off")
        return config.host, self.port

    async def close(self) -> None:
        """Stop listening, then close the upstream session, the follower and the producer."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._metrics_runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.services.follower is not None:
            await asyncio.to_thread(self.services.follower.stop)
            self.services.follower = None
        if self.services.producer is not None:
            await asyncio.to_thread(self.services.producer.flush, 10.0)
            self.services.producer = None

    async def decide(self, record: dict[str, Any]) -> bool:
        """Apply a control record (contract v1) to its live stream, as the follower does.

        Returns False when no live stream has that id.
        """
        live = self.services.live.get(str(record.get("stream_id")))
        if live is None:
            return False
        await live.apply(record)
        return True

    # -- admission ----------------------------------------------------------------------------

    async def _admit(self, request: web.Request, route: str
                     ) -> tuple[dict[str, Any], bytes] | web.StreamResponse:
        key_id = self.keys.identify(request.headers.get("Authorization"))
        if key_id is None:
            return self._count(route, errors.unauthorized())
        wait = self.limiter.check(key_id)
        if wait > 0:
            return self._count(route, errors.rate_limited(wait))
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return self._count(route, errors.too_large(limit))
        raw = bytearray()
        async for piece in request.content.iter_chunked(65536):
            raw += piece
            if len(raw) > limit:
                return self._count(route, errors.too_large(limit))
        body = decode_body(bytes(raw))
        if isinstance(body, str):
            return self._count(route, errors.invalid_json(body))
        return body, bytes(raw)

    def _count(self, route: str, response: web.StreamResponse) -> web.StreamResponse:
        self.metrics.requests.labels(route, str(response.status)).inc()
        return response

    def _upstream_headers(self, request: web.Request, stream: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json"}
        if self.config.upstream_key:
            headers["Authorization"] = f"Bearer {self.config.upstream_key}"
        for name in _PASSED_HEADERS:
            if name in request.headers:
                headers[name] = request.headers[name]
        return headers

    async def _call_upstream(self, request: web.Request, route: str, path: str,
                             raw: bytes, stream: bool
                             ) -> aiohttp.ClientResponse | web.Response:
        assert self._session is not None
        try:
            upstream = await self._session.post(
                self.config.upstream_base + path, data=raw,
                headers=self._upstream_headers(request, stream), allow_redirects=False)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.metrics.upstream_errors.labels("unreachable").inc()
            log.warning("upstream unreachable for %s: %s", route, type(exc).__name__)
            return errors.bad_gateway("The upstream could not be reached.",
                                      "upstream_unreachable")
        if upstream.status != 200:
            return await self._upstream_error(upstream)
        return upstream

    async def _upstream_error(self, upstream: aiohttp.ClientResponse) -> web.Response:
        """Pass an upstream error through when it is OpenAI-shaped, else wrap it."""
        self.metrics.upstream_errors.labels(f"http_{upstream.status // 100}xx").inc()
        try:
            raw = await upstream.content.read(self.config.max_body_bytes)
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            upstream.release()
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        status = upstream.status if 400 <= upstream.status < 600 else 502
        if isinstance(value, dict) and isinstance(value.get("error"), dict):
            error = value["error"]
            shaped = {"message": str(error.get("message", "")), "type": error.get("type"),
                      "param": error.get("param"), "code": error.get("code")}
            return web.Response(status=status, body=orjson.dumps({"error": shaped}),
                                content_type="application/json")
        return errors.error_response(status, f"The upstream answered HTTP {upstream.status}.",
                                     "upstream_error", f"upstream_http_{upstream.status}")

    # -- routes -------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, "chat", "/chat/completions", ChatStream)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, "responses", "/responses", ResponsesStream)

    async def _proxy(self, request: web.Request, route: str, path: str,
                     kind: type[LiveStream]) -> web.StreamResponse:
        started = time.monotonic()
        admitted = await self._admit(request, route)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        body, raw = admitted
        stream = bool(body.get("stream"))
        upstream = await self._call_upstream(request, route, path, raw, stream)
        if isinstance(upstream, web.Response):
            return self._count(route, upstream)
        live = kind(self.services, body, started)
        self.metrics.streams_open.inc()
        try:
            if stream and upstream.content_type == "text/event-stream":
                response = await live.run(request, upstream)
            else:
                response = await self._whole(live, upstream, route)
        finally:
            self.metrics.streams_open.dec()
        return self._count(route, response)

    async def _whole(self, live: LiveStream, upstream: aiohttp.ClientResponse, route: str
                     ) -> web.StreamResponse:
        """Serve a non-streaming answer: tapped, held for decisions like a stream, then sent."""
        live.upstream = upstream
        try:
            raw = await upstream.read()
        except (TimeoutError, aiohttp.ClientError):
            self.metrics.upstream_errors.labels("died_mid_response").inc()
            return errors.bad_gateway("The upstream connection was lost before the answer "
                                      "was complete.", "upstream_disconnected")
        finally:
            upstream.release()
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            return errors.bad_gateway("The upstream's answer is not JSON.", "upstream_bad_json")
        text, set_text = _answer_text(value, route)
        live.begin(value.get("id") if isinstance(value.get("id"), str) else None)
        if isinstance(value.get("model"), str):
            live.model = live.model or value["model"]
        usage = value.get("usage")
        live.usage = usage if isinstance(usage, dict) else None
        if text:
            out = live.take_text(text) + live.finish_text()
            live.delivered(out)
            if live.waiting:
                await live.wait_decisions()
            delivered = "".join(live.collected)
            if delivered != text:
                set_text(delivered)
                if live.stopped and route == "chat":
                    value["choices"][0]["finish_reason"] = "content_filter"
        if route == "chat" and isinstance(value.get("choices"), list) and value["choices"]:
            choice = value["choices"][0]
            live.finish_reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        live.end()
        return web.Response(body=orjson.dumps(value), content_type="application/json",
                            headers={STREAM_ID_HEADER: live.stream_id or ""})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if self.keys.identify(request.headers.get("Authorization")) is None:
            return self._count("models", errors.unauthorized())
        assert self._session is not None
        try:
            async with self._session.get(self.config.upstream_base + "/models",
                                         headers=self._upstream_headers(request, False),
                                         allow_redirects=False) as upstream:
                if upstream.status != 200:
                    return self._count("models", await self._upstream_error(upstream))
                raw = await upstream.read()
        except (TimeoutError, aiohttp.ClientError, OSError):
            return self._count("models", errors.bad_gateway(
                "The upstream could not be reached.", "upstream_unreachable"))
        return self._count("models", web.Response(body=raw, content_type="application/json"))

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})


def decode_body(raw: bytes) -> dict[str, Any] | str:
    r"""Decode a client's request body: the JSON object, or why it is rejected (for a 400).

    Never raises, whatever the bytes.

    >>> decode_body(b'{"model": "m"}')
    {'model': 'm'}
    >>> decode_body(b"[1]")
    'the body must be a JSON object'
    >>> decode_body(b"\xff")
    'str is not valid UTF-8'
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return str(exc).split(":")[0]
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    return body


def _answer_text(value: dict[str, Any], route: str) -> tuple[str, Any]:
    """Return the answer's text and a function that replaces it (choice 0 / every output_text)."""
    if route == "chat":
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                def set_chat(text: str) -> None:
                    message["content"] = text
                return message["content"], set_chat
        return "", None
    texts: list[str] = []
    for item in value.get("output") or []:
        if isinstance(item, dict):
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))

    def set_output(text: str) -> None:
        replace_text(value.get("output"), text)
    return "".join(texts), set_output


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

"""The stand-in upstream and the gateway on 127.0.0.1, on an event loop in a background thread.

The real ``openai`` SDK (sync or async) talks to them from the test's thread,
either to the gateway or directly to the stand-in, so tests compare the two.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import openai
from prometheus_client import CollectorRegistry

from midstream.connectors.openai.gateway.app import Gateway
from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.core.config import Topics
from tests.doubles.openai_upstream.http import Script, StandinUpstream

CLIENT_KEY = "mgw-client-key-7f3a"
UPSTREAM_KEY = "sk-upstream-SECRET-5b9e1c"

T = TypeVar("T")


class Servers:
    """Starts the stand-in, then a gateway in front of it; use as a context manager."""

    def __init__(self, scripts: Mapping[str, Script] | None = None, *,
                 topics: Topics | None = None, **config: Any) -> None:
        self.scripts = dict(scripts or {"gpt-4o-mini": Script()})
        self.config_overrides = config
        self.topics = topics
        self.registry = CollectorRegistry()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.upstream = StandinUpstream(self.scripts, api_key=UPSTREAM_KEY)
        self.gateway: Gateway | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> Servers:
        self._thread.start()
        direct = self.run(self.upstream.start())
        fields = {"upstream": direct, "port": 0, "client_keys": frozenset({CLIENT_KEY}),
                  "upstream_key": UPSTREAM_KEY, **self.config_overrides}
        self.config = GatewayConfig(**fields)

        async def start() -> Gateway:
            gateway = Gateway(self.config, registry=self.registry, topics=self.topics)
            await gateway.start()
            return gateway

        self.gateway = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.gateway is not None:
                self.run(self.gateway.close())
            self.run(self.upstream.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    @property
    def url(self) -> str:
        """The gateway's base URL (what apps set as ``base_url``)."""
        assert self.gateway is not None
        return f"http://127.0.0.1:{self.gateway.port}/v1"

    @property
    def direct_url(self) -> str:
        """The stand-in's base URL (going direct)."""
        return self.upstream.base_url

    def client(self, direct: bool = False, key: str = CLIENT_KEY) -> openai.OpenAI:
        """A sync SDK client for the gateway (or the stand-in, with its own key)."""
        if direct:
            return openai.OpenAI(base_url=self.direct_url, api_key=UPSTREAM_KEY, max_retries=0)
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0)

    def async_client(self, direct: bool = False) -> openai.AsyncOpenAI:
        """An async SDK client for the gateway (or the stand-in)."""
        if direct:
            return openai.AsyncOpenAI(base_url=self.direct_url, api_key=UPSTREAM_KEY,
                                      max_retries=0)
        return openai.AsyncOpenAI(base_url=self.url, api_key=CLIENT_KEY, max_retries=0)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample of the gateway's metrics (0.0 when absent)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def decide(self, record: dict[str, Any]) -> bool:
        """Apply a control decision to a live stream, as the control follower would."""
        assert self.gateway is not None
        return self.run(self.gateway.decide(record))

    def replace(self, **config: Any) -> GatewayConfig:
        """This gateway's config with some fields changed."""
        return dataclasses.replace(self.config, **config)

"""The Realtime relay's settings: one frozen value; secrets from the environment or a file.

Client keys (``MIDSTREAM_GATEWAY_KEYS``, comma-separated, the same keys as the
gateway's) and the upstream key (``MIDSTREAM_UPSTREAM_API_KEY``, or a secret
file) never come from the command line, where ``ps`` would show them, and
``repr`` never shows them.

The upstream must be ``wss://`` (TLS, always verified). Plain ``ws://`` is
accepted for a loopback host only, unless ``allow_insecure_upstream`` is set.

Examples
--------
>>> config = RelayConfig(upstream="wss://api.openai.com/v1/realtime",
...                      client_keys=frozenset({"k-1"}), upstream_key="sk-secret")
>>> "sk-secret" in repr(config), "k-1" in repr(config)
(False, False)
>>> try:
...     RelayConfig(upstream="ws://10.0.0.5/v1/realtime", client_keys=frozenset({"k"}))
... except RelayConfigError as exc:
...     print(exc)
plain ws:// upstream 10.0.0.5 is not loopback; use wss:// or allow_insecure_upstream
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from midstream.connectors.openai.realtime.exceptions import RelayConfigError

DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
DEFAULT_MAX_MESSAGE_BYTES = 16 << 20
"""Largest WebSocket message relayed either way (audio deltas are a few hundred KB at most)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("a.b")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RelayConfig:
    """Everything the relay needs to run.

    Parameters
    ----------
    upstream
        The upstream Realtime endpoint, e.g. ``wss://api.openai.com/v1/realtime``;
        the client's query string (``model=...``) is appended.
    host, port
        Where the relay listens.
    client_keys
        Keys clients must present (``Authorization: Bearer <key>``, or the
        browser subprotocol ``openai-insecure-api-key.<key>``).
    upstream_key
        Sent upstream as ``Authorization: Bearer`` (None: nothing sent).
    brokers
        Kafka bootstrap servers; None turns the tap and the control follower off.
    tokens_topic, control_topic
        Kafka topics (``midstream.core.config.Topics``).
    provider
        ``provider`` of the token events.
    allow_insecure_upstream
        Accept a plain ``ws://`` upstream that is not on loopback.
    max_message_bytes
        Largest WebSocket message relayed.
    max_sessions_per_key
        Concurrent sessions one client key may hold open; more are refused with 429.
    connections_per_second, connection_burst
        Per-client-key token bucket for new connections (sustained rate and burst).
    """

    upstream: str = DEFAULT_UPSTREAM
    host: str = "127.0.0.1"
    port: int = 8081
    client_keys: frozenset[str] = field(default=frozenset(), repr=False)
    upstream_key: str | None = field(default=None, repr=False)
    brokers: str | None = None
    tokens_topic: str = "midstream.llm.tokens"
    control_topic: str = "midstream.control"
    provider: str = "openai"
    allow_insecure_upstream: bool = False
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_sessions_per_key: int = 16
    connections_per_second: float = 5.0
    connection_burst: int = 10

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        if scheme not in {"ws", "wss"} or not parts.hostname:
            raise RelayConfigError(
                f"upstream must be a wss:// (or ws:// on loopback) URL, not {parts.scheme}://")
        if parts.username or parts.password:
            raise RelayConfigError("upstream URL must not carry credentials; use the key settings")
        if scheme == "ws" and not is_loopback(parts.hostname) and not self.allow_insecure_upstream:
            raise RelayConfigError(f"plain ws:// upstream {parts.hostname} is not loopback; use "
                                   "wss:// or allow_insecure_upstream")
        if not self.client_keys:
            raise RelayConfigError("no client keys: set MIDSTREAM_GATEWAY_KEYS (the relay is not "
                                   "an open proxy)")
        if self.max_message_bytes < 1024:
            raise RelayConfigError("max_message_bytes must be at least 1024")
        if self.max_sessions_per_key < 1 or self.connections_per_second <= 0 \
                or self.connection_burst < 1:
            raise RelayConfigError("max_sessions_per_key and connection_burst must be >= 1, "
                                   "connections_per_second > 0")
        object.__setattr__(self, "upstream",
                           urlunsplit((scheme, parts.netloc, parts.path, "", "")))

    def upstream_url(self, query_string: str) -> str:
        """Return the upstream URL for one client connection (its query string appended).

        >>> RelayConfig(upstream="wss://h/v1/realtime", client_keys=frozenset("k")
        ...             ).upstream_url("model=gpt-realtime")
        'wss://h/v1/realtime?model=gpt-realtime'
        """
        return f"{self.upstream}?{query_string}" if query_string else self.upstream


def keys_from_env(env: Mapping[str, str] = os.environ) -> frozenset[str]:
    """Client keys from ``MIDSTREAM_GATEWAY_KEYS`` (comma-separated; blanks ignored)."""
    return frozenset(k.strip() for k in env.get("MIDSTREAM_GATEWAY_KEYS", "").split(",")
                     if k.strip())


def upstream_key_from(env: Mapping[str, str] = os.environ,
                      key_file: str | None = None) -> str | None:
    """Read the upstream key: from ``key_file`` when given, else ``MIDSTREAM_UPSTREAM_API_KEY``."""
    if key_file is not None:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise RelayConfigError(f"cannot read the upstream key file: {exc.strerror}") from None
        return key or None
    return env.get("MIDSTREAM_UPSTREAM_API_KEY") or None

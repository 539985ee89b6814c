"""The gateway's settings: one frozen value, read from the command line, environment and a file.

Secrets (client keys, the upstream key) come from the environment, a secret
file or the config file, never from the command line (it shows in ``ps``), and
``repr`` never shows them.

Examples
--------
>>> config = GatewayConfig(upstream="http://127.0.0.1:8000/v1",
...                        client_keys=frozenset({"k-1"}), upstream_key="sk-secret")
>>> "sk-secret" in repr(config), "k-1" in repr(config)
(False, False)
>>> config.upstream_base
'http://127.0.0.1:8000/v1'
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from midstream.connectors.kafka.settings import ClientSettings
from midstream.connectors.openai.gateway.exceptions import GatewayConfigError

DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_DECISION_TIMEOUT = 0.5


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to run.

    Parameters
    ----------
    upstream
        Base URL of the OpenAI-compatible upstream, including ``/v1``.
    host, port
        Where the gateway listens.
    client_keys
        Keys clients must present as ``Authorization: Bearer <key>``.
    upstream_key
        The key sent to the upstream (None: no ``Authorization`` upstream).
    brokers
        Kafka bootstrap servers; None turns the tap and the control follower off.
    provider
        ``provider`` of the token events (``openai``, ``vllm``, ``ollama``...).
    rate_per_second, burst
        Per-client-key token bucket: sustained requests per second and burst size.
    max_body_bytes
        Larger request bodies are refused with 413.
    decision_timeout
        Seconds a complete redaction match waits for MidStream's decision.
    fail_closed
        On timeout, redact locally (True) instead of releasing the text (False).
    allow_insecure_upstream
        Allow a plain-http upstream that is not on the loopback interface.
    rules_path
        Rules file whose ``redact`` rules drive the hold-back (None: the bundled rules).
    redact_marker
        What replaces a redacted span; ``{reason}`` becomes the rule name.
    metrics_port
        Serve ``/metrics`` on this port as well (None: only on the gateway's port).
    upstream_timeout
        Seconds to wait for the upstream's response headers.
    kafka_settings
        Extra librdkafka settings (credentials, TLS); never shown.
    client_keys_file
        A file of client keys (one a line, ``sha256:<hex>`` for hashed ones), re-read
        on SIGHUP and when it changes; its keys add to ``client_keys``.
    """

    upstream: str
    host: str = "127.0.0.1"
    port: int = 8080
    client_keys: frozenset[str] = field(default=frozenset(), repr=False)
    upstream_key: str | None = field(default=None, repr=False)
    brokers: str | None = None
    provider: str = "openai"
    rate_per_second: float = 20.0
    burst: int = 40
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    decision_timeout: float = DEFAULT_DECISION_TIMEOUT
    fail_closed: bool = False
    allow_insecure_upstream: bool = False
    rules_path: str | None = None
    redact_marker: str = "[redacted:{reason}]"
    metrics_port: int | None = None
    upstream_timeout: float = 60.0
    kafka_settings: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    client_keys_file: str | None = None

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0 or self.burst < 1:
            raise GatewayConfigError("rate_per_second must be > 0 and burst >= 1")
        if self.max_body_bytes < 1:
            raise GatewayConfigError("max_body_bytes must be >= 1")
        if self.decision_timeout < 0:
            raise GatewayConfigError("decision_timeout must be >= 0")
        if "{reason}" not in self.redact_marker and "[" not in self.redact_marker:
            raise GatewayConfigError("redact_marker should be visible, e.g. '[redacted:{reason}]'")

    @property
    def upstream_base(self) -> str:
        """The upstream URL without a trailing slash."""
        return self.upstream.rstrip("/")


_FILE_KEYS = {f.name for f in fields(GatewayConfig)} - {"upstream_key"}


def read_secret_file(path: str) -> str:
    """Read the first line of a secret file, stripped (a trailing newline is not part of a key)."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise GatewayConfigError(f"cannot read the secret file {path}: {exc.strerror}") from None


def load_file(path: str) -> dict[str, Any]:
    r"""Read settings from a TOML file's ``[gateway]`` table (``client_keys`` adds keys).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write('[gateway]\nclient_keys = ["a"]\nrate_per_second = 5\n')
    >>> sorted(load_file(f.name))
    ['client_keys', 'rate_per_second']
    """
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle).get("gateway", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GatewayConfigError(f"cannot read the config file {path}: {exc}") from None
    unknown = sorted(set(table) - _FILE_KEYS)
    if unknown:
        raise GatewayConfigError(f"unknown settings in {path}: {unknown}; valid: {sorted(_FILE_KEYS)}")
    return dict(table)


def from_sources(base: GatewayConfig, *, file: str | None = None,
                 env: Mapping[str, str] = os.environ) -> GatewayConfig:
    """Complete ``base`` (from the command line) with the config file and the environment.

    Client keys are the union of ``MIDSTREAM_GATEWAY_KEYS`` (comma-separated) and
    the file's ``client_keys``. The upstream key is ``MIDSTREAM_UPSTREAM_API_KEY``
    or the contents of ``MIDSTREAM_UPSTREAM_API_KEY_FILE``.

    >>> c = from_sources(GatewayConfig(upstream="http://127.0.0.1:1/v1"),
    ...                  env={"MIDSTREAM_GATEWAY_KEYS": "a, b", "MIDSTREAM_UPSTREAM_API_KEY": "s"})
    >>> sorted(c.client_keys), c.upstream_key
    (['a', 'b'], 's')
    """
    settings: dict[str, Any] = load_file(file) if file else {}
    keys = set(base.client_keys)
    keys.update(k.strip() for k in env.get("MIDSTREAM_GATEWAY_KEYS", "").split(",") if k.strip())
    keys.update(str(k) for k in settings.pop("client_keys", []) if str(k).strip())
    if env.get("MIDSTREAM_GATEWAY_KEYS_FILE") and "client_keys_file" not in settings:
        settings["client_keys_file"] = env["MIDSTREAM_GATEWAY_KEYS_FILE"]
    upstream_key = base.upstream_key or env.get("MIDSTREAM_UPSTREAM_API_KEY") or None
    if upstream_key is None and env.get("MIDSTREAM_UPSTREAM_API_KEY_FILE"):
        upstream_key = read_secret_file(env["MIDSTREAM_UPSTREAM_API_KEY_FILE"]) or None
    kafka = dict(base.kafka_settings)
    kafka.update(ClientSettings.from_env(env).librdkafka)
    try:
        return replace(base, **settings, client_keys=frozenset(keys), upstream_key=upstream_key,
                       kafka_settings=tuple(sorted(kafka.items())))
    except TypeError as exc:
        raise GatewayConfigError(f"bad setting in {file}: {exc}") from None

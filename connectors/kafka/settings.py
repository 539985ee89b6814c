"""How a process reaches Kafka: bootstrap servers plus librdkafka settings, credentials included.

Every Kafka client MidStream builds (the job's source and sink, the gateway,
the Realtime relay, the SDK tap, the media edge, topic creation) is configured
from one :class:`ClientSettings`. The librdkafka settings come from the
environment the same way for all of them: ``MIDSTREAM_KAFKA_<SETTING>``, dots
written as underscores (``MIDSTREAM_KAFKA_SASL_PASSWORD`` is ``sasl.password``),
as read by :meth:`midstream.core.config.KafkaSettings.from_env`.
``MIDSTREAM_KAFKA_BATCH_SIZE`` is the job's own knob, not librdkafka's.

Values may be secrets: ``repr`` shows the setting names only, and nothing here logs them.

Examples
--------
>>> kafka = ClientSettings.from_env({"MIDSTREAM_BROKERS": "k1:9092,k2:9092",
...                                  "MIDSTREAM_KAFKA_SASL_PASSWORD": "hunter2",
...                                  "MIDSTREAM_KAFKA_BATCH_SIZE": "500"})
>>> kafka
ClientSettings(brokers='k1:9092,k2:9092', librdkafka=[sasl.password=***])
>>> kafka.client_config({"linger.ms": 1})["sasl.password"]
'hunter2'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from midstream.core.config import KafkaSettings

__all__ = ["ClientSettings", "client_settings"]


@dataclass(frozen=True)
class ClientSettings:
    """Bootstrap servers and the librdkafka settings every client of this process gets.

    Parameters
    ----------
    brokers
        Bootstrap servers, ``"host:port[,host:port]"``.
    librdkafka
        ``(name, value)`` librdkafka settings (security protocol, SASL, TLS and
        the like). They override a client's own tuning, so an operator can
        change anything; values are never shown.
    """

    brokers: str
    librdkafka: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        hidden = ", ".join(f"{name}=***" for name, _ in self.librdkafka)
        return f"ClientSettings(brokers={self.brokers!r}, librdkafka=[{hidden}])"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *,
                 brokers: str | Iterable[str] | None = None) -> ClientSettings:
        """``MIDSTREAM_BROKERS`` (unless ``brokers`` is given) and ``MIDSTREAM_KAFKA_*``."""
        job = KafkaSettings.from_env(env)
        if brokers is None:
            brokers = job.brokers
        joined = brokers if isinstance(brokers, str) else ",".join(brokers)
        return cls(brokers=joined, librdkafka=job.extra)

    def client_config(self, tuning: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the configuration of one client: servers, then its ``tuning``, then these settings.

        >>> ClientSettings("k:1", (("acks", "1"),)).client_config({"acks": "all", "a": 2})
        {'bootstrap.servers': 'k:1', 'acks': '1', 'a': 2}
        """
        return {"bootstrap.servers": self.brokers, **(tuning or {}), **dict(self.librdkafka)}


def client_settings(kafka: ClientSettings | str | Iterable[str],
                    env: Mapping[str, str] = os.environ) -> ClientSettings:
    """``kafka`` as settings: bootstrap servers alone get their librdkafka settings from ``env``.

    This is what lets a library caller write ``tap(stream, brokers="k:9092")``
    and still reach a secured broker configured by ``MIDSTREAM_KAFKA_*``.

    >>> client_settings("k:9092", {"MIDSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL"}).librdkafka
    (('security.protocol', 'SSL'),)
    >>> client_settings(ClientSettings("k:9092"), {"MIDSTREAM_KAFKA_ACKS": "1"}).librdkafka
    ()
    """
    if isinstance(kafka, ClientSettings):
        return kafka
    return ClientSettings.from_env(env, brokers=kafka)

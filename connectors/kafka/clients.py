"""Building Kafka producers, consumers and admin clients: the only place MidStream does.

Each function takes the process's :class:`~midstream.connectors.kafka.settings.ClientSettings`
and the client's own tuning; the settings (credentials, TLS) override the tuning.

Examples
--------
The process's settings reach librdkafka, which checks them when the client is built:

>>> from confluent_kafka import KafkaException
>>> from midstream.connectors.kafka.settings import ClientSettings
>>> try:
...     make_producer(ClientSettings("127.0.0.1:1", (("no.such.setting", "x"),)))
... except KafkaException as exc:
...     print(exc.args[0].str())
No such configuration property: "no.such.setting"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from midstream.connectors.kafka.settings import ClientSettings

__all__ = ["LIVE_PRODUCER", "make_admin", "make_consumer", "make_producer"]

LIVE_PRODUCER: Mapping[str, Any] = {
    "enable.idempotence": True,
    "linger.ms": 1,
    "compression.type": "lz4",
}
"""An idempotent producer tuned for latency: token events and media records feed live decisions."""


def make_producer(kafka: ClientSettings, tuning: Mapping[str, Any] = LIVE_PRODUCER) -> Producer:
    """Make a producer with ``tuning`` (default :data:`LIVE_PRODUCER`) under the process's settings."""
    return Producer(kafka.client_config(tuning))


def make_consumer(kafka: ClientSettings, tuning: Mapping[str, Any]) -> Consumer:
    """Make a consumer; ``tuning`` must name its ``group.id`` (callbacks may go in too)."""
    return Consumer(kafka.client_config(tuning))


def make_admin(kafka: ClientSettings, tuning: Mapping[str, Any] | None = None) -> AdminClient:
    """Make an admin client, for topic metadata and creation."""
    return AdminClient(kafka.client_config(tuning))

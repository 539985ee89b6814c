"""The Realtime relay's Kafka clients: the tap's producer and the control follower."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from midstream.connectors.openai.realtime.config import RelayConfig

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from midstream.connectors.openai.control import ControlFollower

__all__ = ["kafka_clients"]


def kafka_clients(config: RelayConfig, env: Mapping[str, str] = os.environ
                  ) -> tuple[Producer | None, ControlFollower | None]:
    """Make the tap's producer and the (not yet started) control follower; none without brokers.

    Both get the librdkafka settings from ``MIDSTREAM_KAFKA_*``, as the job does,
    so the relay reaches a TLS or SASL broker the same way.
    """
    from midstream.connectors.kafka.clients import make_producer
    from midstream.connectors.kafka.settings import ClientSettings
    from midstream.connectors.openai.control import ControlFollower

    if not config.brokers:
        return None, None
    kafka = ClientSettings.from_env(env, brokers=config.brokers)
    return make_producer(kafka), ControlFollower(kafka, config.control_topic)

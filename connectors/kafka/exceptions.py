"""What the Kafka connector raises on purpose."""

from __future__ import annotations

from midstream.core.exceptions import MidStreamError

__all__ = ["KafkaAuthenticationError", "KafkaConnectorError", "TopicSetupError"]


class KafkaConnectorError(MidStreamError):
    """Root of the Kafka connector's exceptions."""


class TopicSetupError(KafkaConnectorError, RuntimeError):
    """Topics could not be created, or the broker did not serve them in time."""


class KafkaAuthenticationError(KafkaConnectorError, RuntimeError):
    """The broker refused the login (SASL) or the TLS handshake: retrying will not help."""

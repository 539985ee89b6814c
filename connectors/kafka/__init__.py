"""Kafka in and out: client settings and construction, topics, a resumable source, a sink.

Every Kafka client MidStream builds is built here, from one
:class:`~midstream.connectors.kafka.settings.ClientSettings`.
"""

from midstream.connectors.kafka.admin import create_topics
from midstream.connectors.kafka.clients import make_admin, make_consumer, make_producer
from midstream.connectors.kafka.exceptions import TopicSetupError
from midstream.connectors.kafka.settings import ClientSettings, client_settings
from midstream.connectors.kafka.sink import KafkaOutput
from midstream.connectors.kafka.source import RawMessage, TokenTopicSource

__all__ = [
    "ClientSettings",
    "KafkaOutput",
    "RawMessage",
    "TokenTopicSource",
    "TopicSetupError",
    "client_settings",
    "create_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
]

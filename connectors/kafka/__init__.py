"""Kafka in and out: a lean resumable source of raw messages and a non-blocking sink."""

from midstream.connectors.kafka.sink import KafkaOutput
from midstream.connectors.kafka.source import RawMessage, TokenTopicSource

__all__ = ["KafkaOutput", "RawMessage", "TokenTopicSource"]

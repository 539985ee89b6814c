"""Kafka in and out: a lean partitioned source of raw messages, and the topic admin helpers."""

from connectors.kafka.source import RawMessage, TokenTopicSource

__all__ = ["RawMessage", "TokenTopicSource"]

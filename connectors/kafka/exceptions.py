"""What the Kafka connector raises on purpose."""

from __future__ import annotations

__all__ = ["TopicSetupError"]


class TopicSetupError(RuntimeError):
    """Topics could not be created, or the broker did not serve them in time."""

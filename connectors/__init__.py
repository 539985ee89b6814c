"""Adapters between the outside world (Kafka, media, OpenAI) and MidStream events."""

from __future__ import annotations

# Import the modules themselves (midstream.connectors.<module>); the package exports nothing.
__all__: list[str] = []

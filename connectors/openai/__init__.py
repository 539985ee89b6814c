"""OpenAI connectors: the streaming gateway, the Realtime relay and the SDK tap."""

from __future__ import annotations

# Import the modules themselves (midstream.connectors.openai.<module>); the package exports nothing.
__all__: list[str] = []

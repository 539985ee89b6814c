"""Bytewax dataflows: wiring connectors to the pure operators."""

from __future__ import annotations

# Import the modules themselves (midstream.flows.<module>); the package exports nothing.
__all__: list[str] = []

"""Replay of recorded token streams from a JSON-lines file, at their original pace."""

from midstream.connectors.replay.source import ReplaySource

__all__ = ["ReplaySource"]

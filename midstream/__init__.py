"""MidStream: real-time analysis of LLM and media streams while they stream."""

__version__ = "0.1.0"

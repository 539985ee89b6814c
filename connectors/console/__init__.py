"""A terminal view of what the flow emits: insights, control events and dead letters."""

from midstream.connectors.console.sink import ConsoleSink, format_record

__all__ = ["ConsoleSink", "format_record"]

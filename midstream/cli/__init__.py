"""The top layer: the ``midstream`` command and what it runs (demo, ingest, gateway, relay, stack).

The CLI is the only place that wires flows to connectors other than Kafka; no
other package imports it.
"""

from __future__ import annotations

__all__: list[str] = []

"""Grafana dashboards, generated with grafanalib from the metric names in midstream.core.metrics."""

from __future__ import annotations

# Import the modules themselves (midstream.grafana.<module>); the package exports nothing.
__all__: list[str] = []

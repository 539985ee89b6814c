"""Grafana dashboards, generated with grafanalib from the metric names in midstream.core.metrics."""

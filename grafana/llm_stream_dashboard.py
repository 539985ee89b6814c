"""The "MidStream: LLM streams" Grafana dashboard, built with grafanalib.

Metric names come from :mod:`midstream.core.metrics`, never retyped, so a renamed
metric breaks this module's tests instead of silently emptying a panel.

Write the JSON for import into Grafana::

    python -m midstream.grafana.llm_stream_dashboard > midstream-llm.json

Examples
--------
>>> dashboard = build_dashboard()
>>> dashboard.title
'MidStream: LLM streams'
>>> all(q.startswith(("histogram_quantile", "sum", "rate")) for q in queries(dashboard))
True
"""

from __future__ import annotations

import sys

from grafanalib.core import Dashboard

from midstream.core import metrics as m
from midstream.grafana.panels import panel as _panel
from midstream.grafana.panels import quantile as _quantile
from midstream.grafana.panels import queries, to_json

__all__ = ["JOB_ONLY", "build_dashboard", "queries", "to_json"]

JOB_ONLY = 'route=""'
"""The job's GenAI histograms have no ``route`` label; the gateway's same-named ones do."""

def build_dashboard() -> Dashboard:
    """Build the dashboard object (see :func:`to_json`)."""
    rate = "[$__rate_interval]"
    panels = [
        _panel("Time to first token", {
            "p50": _quantile(0.5, m.TIME_TO_FIRST_CHUNK, where=JOB_ONLY),
            "p95": _quantile(0.95, m.TIME_TO_FIRST_CHUNK, where=JOB_ONLY),
            "p99 by model": _quantile(0.99, m.TIME_TO_FIRST_CHUNK, "gen_ai_request_model", JOB_ONLY),
        }, "s", 0, 0),
        _panel("Inter-token latency", {
            "p50": _quantile(0.5, m.TIME_PER_OUTPUT_CHUNK, where=JOB_ONLY),
            "p99": _quantile(0.99, m.TIME_PER_OUTPUT_CHUNK, where=JOB_ONLY),
        }, "s", 12, 0),
        _panel("Streams", {
            "started/s": f"sum(rate({m.STREAMS_STARTED}_total{rate}))",
            "completed/s": f"sum(rate({m.STREAMS_COMPLETED}_total{rate}))",
            "abandoned/s": f"sum(rate({m.STREAMS_ABANDONED}_total{rate}))",
            "open": f"sum({m.STREAMS_OPEN})",
        }, "short", 0, 8),
        _panel("Stalls", {
            "stalls/s": f"sum(rate({m.STALLS}_total{rate}))",
            "p95 stall length": _quantile(0.95, m.STALL_SECONDS),
        }, "short", 12, 8),
        _panel("Insights by kind", {
            "{{detector}}/{{kind}}": f"sum by (detector, kind) (rate({m.INSIGHTS}_total{rate}))",
        }, "short", 0, 16),
        _panel("Control events and detection lead", {
            "{{action}}/s": f"sum by (action) (rate({m.CONTROL_EVENTS}_total{rate}))",
            "median lead (tokens)": _quantile(0.5, m.DETECTION_LEAD),
        }, "short", 12, 16),
        _panel("Dead letters and sequence anomalies", {
            "dlq {{reason}}": f"sum by (reason) (rate({m.DEAD_LETTERS}_total{rate}))",
            "seq {{kind}}": f"sum by (kind) (rate({m.SEQUENCE_ANOMALIES}_total{rate}))",
        }, "short", 0, 24),
        _panel("Decode rate and Kafka lag", {
            "tokens/s p50": _quantile(0.5, m.TOKENS_PER_SECOND),
            "consumer lag": "sum(bytewax_kafka_consumer_lag)",
        }, "short", 12, 24),
    ]
    return Dashboard(title="MidStream: LLM streams", uid="midstream-llm", panels=panels,
                     refresh="5s", tags=["midstream"]).auto_panel_ids()


if __name__ == "__main__":
    sys.stdout.write(to_json(build_dashboard()) + "\n")

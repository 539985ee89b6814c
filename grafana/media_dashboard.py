"""The "MidStream: media streams" Grafana dashboard, built with grafanalib.

Metric names come from :mod:`midstream.core.metrics`. Write the JSON for import::

    python -m midstream.grafana.media_dashboard > midstream-media.json

Examples
--------
>>> dashboard = build_dashboard()
>>> dashboard.title, len(dashboard.panels)
('MidStream: media streams', 6)
"""

from __future__ import annotations

import sys

from grafanalib.core import Dashboard

from midstream.core import metrics as m
from midstream.grafana.panels import panel, quantile, queries, to_json

__all__ = ["build_dashboard", "queries", "to_json"]


def build_dashboard() -> Dashboard:
    """Build the dashboard object (see :func:`midstream.grafana.panels.to_json`)."""
    rate = "[$__rate_interval]"
    panels = [
        panel("Streams and their conditions", {
            "open": f"sum({m.MEDIA_STREAMS_OPEN})",
            "{{condition}}": f"sum by (condition) ({m.MEDIA_CONDITION})",
        }, "short", 0, 0),
        panel("Feature records", {
            "{{kind}}/s": f"sum by (kind) (rate({m.MEDIA_RECORDS}_total{rate}))",
        }, "short", 12, 0),
        panel("Actual fps per window", {
            "p10": quantile(0.1, m.MEDIA_FPS),
            "p50": quantile(0.5, m.MEDIA_FPS),
        }, "short", 0, 8),
        panel("Speech share per window", {
            "p50": quantile(0.5, m.MEDIA_SPEECH_RATIO),
            "p90": quantile(0.9, m.MEDIA_SPEECH_RATIO),
        }, "percentunit", 12, 8),
        panel("Insights by kind", {
            "{{detector}}/{{kind}}":
                f"sum by (detector, kind) (rate({m.MEDIA_INSIGHTS}_total{rate}))",
        }, "short", 0, 16),
        panel("Edge-to-analysis delay and dead letters", {
            "p99 delay": quantile(0.99, m.MEDIA_RECORD_DELAY),
            "dlq {{reason}}/s": f"sum by (reason) (rate({m.MEDIA_DEAD_LETTERS}_total{rate}))",
        }, "s", 12, 16),
    ]
    return Dashboard(title="MidStream: media streams", uid="midstream-media", panels=panels,
                     refresh="5s", tags=["midstream"]).auto_panel_ids()


if __name__ == "__main__":
    sys.stdout.write(to_json(build_dashboard()) + "\n")

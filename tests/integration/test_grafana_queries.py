"""Every dashboard query is valid PromQL, as judged by the real Prometheus."""

from __future__ import annotations

from midstream.grafana import gateway_dashboard, llm_stream_dashboard, media_dashboard
from midstream.grafana.panels import queries
from midstream.stack import query


def test_prometheus_accepts_every_dashboard_query(prometheus_url):
    dashboards = (llm_stream_dashboard.build_dashboard(), media_dashboard.build_dashboard(),
                  gateway_dashboard.build_dashboard())
    for expr in (e for d in dashboards for e in queries(d)):
        # `$__rate_interval` is Grafana's; Prometheus needs a concrete range.
        query(prometheus_url, expr.replace("$__rate_interval", "1m"))  # raises on a bad query

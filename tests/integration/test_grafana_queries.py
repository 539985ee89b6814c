"""Every dashboard query is valid PromQL, as judged by the real Prometheus."""

from __future__ import annotations

from grafana.llm_stream_dashboard import build_dashboard, queries
from midstream.stack import query


def test_prometheus_accepts_every_dashboard_query(prometheus_url):
    for expr in queries(build_dashboard()):
        # `$__rate_interval` is Grafana's; Prometheus needs a concrete range.
        query(prometheus_url, expr.replace("$__rate_interval", "1m"))  # raises on a bad query

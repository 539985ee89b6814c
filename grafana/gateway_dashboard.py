"""The "MidStream: gateway and Realtime relay" Grafana dashboard, built with grafanalib.

The gateway and the relay stand between clients and OpenAI, so this dashboard shows
what clients see and what MidStream did to their streams: latency as the client
measures it, requests, stops, redactions, hold-back, late decisions, upstream
failures, and the relay's sessions, events, audio and stops. The job's own view of
the token streams is the LLM dashboard (:mod:`midstream.grafana.llm_stream_dashboard`).

The gateway records the GenAI client histograms under the same names as the job, with
a ``route`` label the job's series lack; its panels select ``route!=""`` so that the
two never mix. Metric names come from :mod:`midstream.core.metrics`, never retyped.

Write the JSON for import into Grafana::

    python -m midstream.grafana.gateway_dashboard > midstream-gateway.json

Examples
--------
>>> dashboard = build_dashboard()
>>> dashboard.title
'MidStream: gateway and Realtime relay'
>>> all(q.startswith(("histogram_quantile", "sum")) for q in queries(dashboard))
True
"""

from __future__ import annotations

import sys

from grafanalib.core import Dashboard

from midstream.core import metrics as m
from midstream.grafana.panels import panel, quantile, queries, to_json

__all__ = ["build_dashboard", "queries", "to_json"]

GATEWAY = 'route!=""'
"""Selects the gateway's series of the GenAI client histograms (the job's have no route)."""


def _per_second(metric: str, by: str = "") -> str:
    """PromQL for the per-second rate of a counter, summed, optionally ``by`` labels."""
    counted = f"rate({metric}_total[$__rate_interval])"
    return f"sum by ({by}) ({counted})" if by else f"sum({counted})"


def build_dashboard() -> Dashboard:
    """Build the dashboard object (see :func:`to_json`)."""
    panels = [
        panel("Gateway: time to first chunk, as the client sees it", {
            "p50": quantile(0.5, m.TIME_TO_FIRST_CHUNK, where=GATEWAY),
            "p95 {{route}}": quantile(0.95, m.TIME_TO_FIRST_CHUNK, "route", GATEWAY),
        }, "s", 0, 0),
        panel("Gateway: time between chunks and operation duration", {
            "chunk gap p50": quantile(0.5, m.TIME_PER_OUTPUT_CHUNK, where=GATEWAY),
            "chunk gap p99": quantile(0.99, m.TIME_PER_OUTPUT_CHUNK, where=GATEWAY),
            "duration p95": quantile(0.95, m.OPERATION_DURATION, where=GATEWAY),
        }, "s", 12, 0),
        panel("Gateway: requests, open streams and tokens per operation", {
            "{{route}} {{status}}/s": _per_second(m.GATEWAY_REQUESTS, "route, status"),
            "open streams": f"sum({m.GATEWAY_STREAMS_OPEN})",
            "{{gen_ai_token_type}} tokens p50": quantile(0.5, m.TOKEN_USAGE, "gen_ai_token_type",
                                                         GATEWAY),
        }, "short", 0, 8),
        panel("Gateway: interventions", {
            "stops {{route}}/s": _per_second(m.GATEWAY_STOPS, "route"),
            "redactions {{source}}/s": _per_second(m.GATEWAY_REDACTIONS, "source"),
            "tokens saved/s": _per_second(m.GATEWAY_TOKENS_SAVED),
        }, "short", 12, 8),
        panel("Gateway: hold-back and decisions", {
            "hold-back p50 (s)": quantile(0.5, m.GATEWAY_HOLDBACK_SECONDS),
            "hold-back p99 (s)": quantile(0.99, m.GATEWAY_HOLDBACK_SECONDS),
            "wait beyond look-ahead p50 (s)": quantile(0.5, m.GATEWAY_HOLDBACK_WAIT_SECONDS),
            "wait beyond look-ahead p99 (s)": quantile(0.99, m.GATEWAY_HOLDBACK_WAIT_SECONDS),
            "timeouts fail-{{mode}}/s": _per_second(m.GATEWAY_DECISION_TIMEOUTS, "mode"),
            "late {{action}}/s": _per_second(m.GATEWAY_LATE_DECISIONS, "action"),
        }, "short", 0, 16),
        panel("Gateway: upstream errors", {
            "{{kind}}/s": _per_second(m.GATEWAY_UPSTREAM_ERRORS, "kind"),
        }, "short", 12, 16),
        panel("Realtime relay: sessions", {
            "sessions/s": _per_second(m.RELAY_SESSIONS),
            "open": f"sum({m.RELAY_SESSIONS_OPEN})",
            "refused {{reason}}/s": _per_second(m.RELAY_REFUSED, "reason"),
        }, "short", 0, 24),
        panel("Realtime relay: events relayed", {
            "{{direction}} {{family}}/s": _per_second(m.RELAY_EVENTS, "direction, family"),
        }, "short", 12, 24),
        panel("Realtime relay: audio relayed (seconds per second)", {
            "{{direction}}": _per_second(m.RELAY_AUDIO_SECONDS, "direction"),
        }, "short", 0, 32),
        panel("Realtime relay: stops", {
            "stop {{outcome}}/s": _per_second(m.RELAY_STOPS, "outcome"),
            "truncations/s": _per_second(m.RELAY_TRUNCATIONS),
            "suppressed deltas/s": _per_second(m.RELAY_SUPPRESSED_DELTAS),
        }, "short", 12, 32),
    ]
    return Dashboard(title="MidStream: gateway and Realtime relay", uid="midstream-gateway",
                     panels=panels, refresh="5s", tags=["midstream"]).auto_panel_ids()


if __name__ == "__main__":
    sys.stdout.write(to_json(build_dashboard()) + "\n")

"""The gateway's Prometheus metrics, defined once, with bounded labels.

The OpenTelemetry GenAI client metrics reuse the names in
:mod:`midstream.core.metrics` (time to first chunk, time per output chunk,
operation duration, token usage), measured here as the client sees them; the
rest carry the ``midstream_gateway_`` prefix. Labels are the route, the
provider and a bounded model name, never a stream id or a key.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = GatewayMetrics(registry)
>>> metrics.stops.labels("chat").inc()
>>> registry.get_sample_value("midstream_gateway_stops_total", {"route": "chat"})
1.0
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from midstream.core import metrics as names
from midstream.core.metrics import CHUNK_BUCKETS, LATENCY_BUCKETS, TOKEN_BUCKETS, BoundedLabel

REQUESTS = "midstream_gateway_requests"
STREAMS_OPEN = "midstream_gateway_streams_open"
STOPS = "midstream_gateway_stops"
REDACTIONS = "midstream_gateway_redactions"
TOKENS_SAVED = "midstream_gateway_tokens_saved"
HOLDBACK_SECONDS = "midstream_gateway_holdback_seconds"
LATE_DECISIONS = "midstream_gateway_late_decisions"
DECISION_TIMEOUTS = "midstream_gateway_decision_timeouts"
UPSTREAM_ERRORS = "midstream_gateway_upstream_errors"

HOLDBACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LABELS = ("route", "gen_ai_provider_name", "gen_ai_request_model")


class GatewayMetrics:
    """Every metric the gateway exports, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, label_limit: int = 50) -> None:
        self.model_label = BoundedLabel(label_limit)
        r = registry
        self.time_to_first_chunk = Histogram(
            names.TIME_TO_FIRST_CHUNK, "Time from the request to the first chunk sent to the "
            "client.", LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.time_per_output_chunk = Histogram(
            names.TIME_PER_OUTPUT_CHUNK, "Time between chunks sent to the client.", LABELS,
            buckets=CHUNK_BUCKETS, registry=r)
        self.operation_duration = Histogram(
            names.OPERATION_DURATION, "Duration of a proxied operation, request to last byte.",
            LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.token_usage = Histogram(
            names.TOKEN_USAGE, "Tokens per operation, as the upstream reported them.",
            (*LABELS, "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=r)
        self.requests = Counter(REQUESTS, "Requests by route and HTTP status.",
                                ("route", "status"), registry=r)
        self.streams_open = Gauge(STREAMS_OPEN, "Streams being proxied now.", registry=r)
        self.stops = Counter(STOPS, "Streams ended early by a stop decision.", ("route",),
                             registry=r)
        self.redactions = Counter(REDACTIONS, "Spans replaced by the redaction marker.",
                                  ("route", "source"), registry=r)
        self.tokens_saved = Counter(
            TOKENS_SAVED, "Output tokens not generated because a stream was stopped "
            "(estimated: the request's token limit minus the chunks received).", ("route",),
            registry=r)
        self.holdback_seconds = Histogram(
            HOLDBACK_SECONDS, "How long each upstream text delta was held back for a possible "
            "redaction: arrival to release of its last character (0 when not held).",
            ("route",), buckets=(0.0, *HOLDBACK_BUCKETS), registry=r)
        self.late_decisions = Counter(
            LATE_DECISIONS, "Control decisions that came after the stream ended or after the "
            "text had been released.", ("action",), registry=r)
        self.decision_timeouts = Counter(
            DECISION_TIMEOUTS, "Held matches released (fail open) or redacted locally (fail "
            "closed) because no decision came in time.", ("mode",), registry=r)
        self.upstream_errors = Counter(UPSTREAM_ERRORS, "Upstream failures by kind.",
                                       ("kind",), registry=r)

    def labels(self, route: str, provider: str, model: str | None) -> tuple[str, str, str]:
        """The bounded label values of one operation."""
        return route, provider, self.model_label(model)

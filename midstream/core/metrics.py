"""Every Prometheus metric MidStream exports, defined once.

Names follow the OpenTelemetry GenAI client conventions in Prometheus form
where they exist, and use the ``midstream_`` prefix otherwise. Labels stay
bounded: no stream ids, and model/provider values past a fixed number of
distinct ones are reported as ``other``. Dashboards in ``grafana/`` import
the names from here.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = LlmStreamMetrics(registry)
>>> metrics.streams_started.inc()
>>> registry.get_sample_value("midstream_streams_started_total")
1.0
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from midstream.core.fast_histogram import FastHistogram

TIME_TO_FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"
TIME_PER_OUTPUT_CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds"
OPERATION_DURATION = "gen_ai_client_operation_duration_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"
EVENTS = "midstream_events"
DEAD_LETTERS = "midstream_dead_letters"
STREAMS_STARTED = "midstream_streams_started"
STREAMS_COMPLETED = "midstream_streams_completed"
STREAMS_ABANDONED = "midstream_streams_abandoned"
STREAMS_OPEN = "midstream_streams_open"
TOKENS_PER_SECOND = "midstream_stream_tokens_per_second"
STALLS = "midstream_stream_stalls"
STALL_SECONDS = "midstream_stream_stall_seconds"
INSIGHTS = "midstream_insights"
CONTROL_EVENTS = "midstream_control_events"
DETECTION_LEAD = "midstream_detection_lead_tokens"
SEQUENCE_ANOMALIES = "midstream_sequence_anomalies"
MEDIA_RECORDS = "midstream_media_records"
MEDIA_DEAD_LETTERS = "midstream_media_dead_letters"
MEDIA_STREAMS_OPEN = "midstream_media_streams_open"
MEDIA_INSIGHTS = "midstream_media_insights"
MEDIA_RECORD_DELAY = "midstream_media_record_delay_seconds"
MEDIA_FPS = "midstream_media_window_fps"
MEDIA_SPEECH_RATIO = "midstream_media_window_speech_ratio"
MEDIA_CONDITION = "midstream_media_streams_in_condition"
OUTPUT_ERRORS = "midstream_output_errors"

# OpenTelemetry's recommended boundaries for the GenAI latency histograms.
LATENCY_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
CHUNK_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
RATE_BUCKETS = (1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500)
LEAD_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
FPS_BUCKETS = (1, 5, 10, 15, 20, 24, 25, 30, 50, 60, 120)
RATIO_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

MODEL_LABELS = ("gen_ai_provider_name", "gen_ai_request_model")


class BoundedLabel:
    """Maps raw label values to at most ``limit`` distinct ones; the rest become ``other``.

    >>> label = BoundedLabel(limit=1)
    >>> label("gpt-4o"), label("gpt-4o"), label("llama3")
    ('gpt-4o', 'gpt-4o', 'other')
    """

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        """Map ``value`` to itself, ``other`` beyond ``limit`` values, or ``unknown`` when empty."""
        if not value:
            return "unknown"
        if value in self._seen:
            return value
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        return "other"


class LlmStreamMetrics:
    """The LLM-stream job's metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, label_limit: int = 50) -> None:
        self._provider = BoundedLabel(label_limit)
        self._model = BoundedLabel(label_limit)
        r = registry
        self.time_to_first_chunk = Histogram(
            TIME_TO_FIRST_CHUNK, "Time from the request start to the first output chunk.",
            MODEL_LABELS, buckets=LATENCY_BUCKETS, registry=r,
        )
        # Observed once per token: the queue-backed histogram keeps that cheap.
        self.time_per_output_chunk = FastHistogram(
            TIME_PER_OUTPUT_CHUNK, "Time between consecutive output chunks (inter-token latency).",
            MODEL_LABELS, CHUNK_BUCKETS, r,
        )
        self.operation_duration = Histogram(
            OPERATION_DURATION, "Duration of a streamed operation, start to end.",
            MODEL_LABELS, buckets=LATENCY_BUCKETS, registry=r,
        )
        self.token_usage = Histogram(
            TOKEN_USAGE, "Tokens used per operation (usage when reported, else chunk count).",
            (*MODEL_LABELS, "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=r,
        )
        self.events = Counter(EVENTS, "Valid token events processed.", registry=r)
        self.dead_letters = Counter(
            DEAD_LETTERS, "Messages sent to the dead-letter topic.", ("reason",), registry=r
        )
        self.streams_started = Counter(STREAMS_STARTED, "Streams seen for the first time.",
                                       registry=r)
        self.streams_completed = Counter(STREAMS_COMPLETED, "Streams that sent their end event.",
                                         registry=r)
        self.streams_abandoned = Counter(
            STREAMS_ABANDONED, "Streams that went silent without an end event.", registry=r
        )
        self.streams_open = Gauge(STREAMS_OPEN, "Streams currently open in this process.",
                                  registry=r)
        self.tokens_per_second = Histogram(
            TOKENS_PER_SECOND, "Decode rate of each finished stream.", MODEL_LABELS,
            buckets=RATE_BUCKETS, registry=r,
        )
        self.stalls = Counter(STALLS, "Gaps between tokens longer than the stall threshold.",
                              registry=r)
        self.stall_seconds = Histogram(
            STALL_SECONDS, "Length of each stall.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.insights = Counter(
            INSIGHTS, "Insights emitted.", ("detector", "kind"), registry=r
        )
        self.control_events = Counter(
            CONTROL_EVENTS, "Control events emitted.", ("action",), registry=r
        )
        self.detection_lead = Histogram(
            DETECTION_LEAD, "Tokens between a detection and the end of its stream.",
            ("detector",), buckets=LEAD_BUCKETS, registry=r,
        )
        self.sequence_anomalies = Counter(
            SEQUENCE_ANOMALIES, "Out-of-order, duplicate and late events.", ("kind",), registry=r
        )
        self.analysis_errors = analysis_errors(r)

    def model_labels(self, provider: str | None, model: str | None) -> tuple[str, str]:
        """Bounded ``(provider, model)`` label values."""
        return self._provider(provider), self._model(model)


_default: LlmStreamMetrics | None = None


def default_metrics() -> LlmStreamMetrics:
    """Return the process-wide metrics in the default registry, created on first use.

    Bytewax's ``/metrics`` endpoint and ``prometheus_client.start_http_server``
    both serve the default registry, so production flows use this instance.
    """
    global _default
    if _default is None:
        _default = LlmStreamMetrics(REGISTRY)
    return _default


class MediaMetrics:
    """The media job's metrics, registered in ``registry``. No stream ids in labels."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.records = Counter(MEDIA_RECORDS, "Valid media feature records processed.",
                               ("kind",), registry=r)
        self.dead_letters = Counter(MEDIA_DEAD_LETTERS,
                                    "Media records sent to the dead-letter topic.", ("reason",),
                                    registry=r)
        self.streams_open = Gauge(MEDIA_STREAMS_OPEN, "Media streams with state in this process.",
                                  registry=r)
        self.insights = Counter(MEDIA_INSIGHTS, "Media insights emitted.", ("detector", "kind"),
                                registry=r)
        self.record_delay = Histogram(
            MEDIA_RECORD_DELAY, "From a record's making at the edge to its analysis.",
            buckets=DELAY_BUCKETS, registry=r,
        )
        self.window_fps = Histogram(MEDIA_FPS, "Actual fps of each closed video window.",
                                    buckets=FPS_BUCKETS, registry=r)
        self.window_speech_ratio = Histogram(
            MEDIA_SPEECH_RATIO, "Share of 20 ms audio windows with voice, per closed window.",
            buckets=RATIO_BUCKETS, registry=r,
        )
        self.in_condition = Gauge(
            MEDIA_CONDITION, "Streams currently frozen, black, silent, dead, drifting or slow.",
            ("condition",), registry=r,
        )
        self.analysis_errors = analysis_errors(r)


_default_media: MediaMetrics | None = None


def default_media_metrics() -> MediaMetrics:
    """Return the process-wide media metrics in the default registry, created on first use."""
    global _default_media
    if _default_media is None:
        _default_media = MediaMetrics(REGISTRY)
    return _default_media


# -- The OpenAI gateway and the Realtime relay -------------------------------------------------
# Both measure what their clients see. The gateway reuses the GenAI client names above (time
# to first chunk, time per output chunk, operation duration, token usage) with a ``route``
# label; everything else carries the ``midstream_gateway_`` or ``midstream_realtime_`` prefix.
# Labels are routes, providers, bounded model names and small fixed sets: never a stream,
# session or response id, nor a key.

GATEWAY_REQUESTS = "midstream_gateway_requests"
GATEWAY_STREAMS_OPEN = "midstream_gateway_streams_open"
GATEWAY_STOPS = "midstream_gateway_stops"
GATEWAY_REDACTIONS = "midstream_gateway_redactions"
GATEWAY_TOKENS_SAVED = "midstream_gateway_tokens_saved"
GATEWAY_HOLDBACK_SECONDS = "midstream_gateway_holdback_seconds"
GATEWAY_HOLDBACK_WAIT_SECONDS = "midstream_gateway_holdback_wait_seconds"
GATEWAY_LATE_DECISIONS = "midstream_gateway_late_decisions"
GATEWAY_DECISION_TIMEOUTS = "midstream_gateway_decision_timeouts"
GATEWAY_UPSTREAM_ERRORS = "midstream_gateway_upstream_errors"

HOLDBACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
GATEWAY_LABELS = ("route", *MODEL_LABELS)


class GatewayMetrics:
    """Every metric the OpenAI gateway exports, registered in ``registry``.

    Examples
    --------
    >>> registry = CollectorRegistry()
    >>> metrics = GatewayMetrics(registry)
    >>> metrics.stops.labels("chat").inc()
    >>> registry.get_sample_value("midstream_gateway_stops_total", {"route": "chat"})
    1.0
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY, label_limit: int = 50) -> None:
        self.model_label = BoundedLabel(label_limit)
        r = registry
        self.time_to_first_chunk = Histogram(
            TIME_TO_FIRST_CHUNK, "Time from the request to the first chunk sent to the "
            "client.", GATEWAY_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.time_per_output_chunk = Histogram(
            TIME_PER_OUTPUT_CHUNK, "Time between chunks sent to the client.", GATEWAY_LABELS,
            buckets=CHUNK_BUCKETS, registry=r)
        self.operation_duration = Histogram(
            OPERATION_DURATION, "Duration of a proxied operation, request to last byte.",
            GATEWAY_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.token_usage = Histogram(
            TOKEN_USAGE, "Tokens per operation, as the upstream reported them.",
            (*GATEWAY_LABELS, "gen_ai_token_type"), buckets=TOKEN_BUCKETS, registry=r)
        self.requests = Counter(GATEWAY_REQUESTS, "Requests by route and HTTP status.",
                                ("route", "status"), registry=r)
        self.streams_open = Gauge(GATEWAY_STREAMS_OPEN, "Streams being proxied now.", registry=r)
        self.stops = Counter(GATEWAY_STOPS, "Streams ended early by a stop decision.", ("route",),
                             registry=r)
        self.redactions = Counter(GATEWAY_REDACTIONS, "Spans replaced by the redaction marker.",
                                  ("route", "source"), registry=r)
        self.tokens_saved = Counter(
            GATEWAY_TOKENS_SAVED, "Output tokens not generated because a stream was stopped "
            "(estimated: the request's token limit minus the chunks received).", ("route",),
            registry=r)
        self.holdback_seconds = Histogram(
            GATEWAY_HOLDBACK_SECONDS, "How long each upstream text delta was held back for a "
            "possible redaction: arrival to release of its last character (0 when not held).",
            ("route",), buckets=(0.0, *HOLDBACK_BUCKETS), registry=r)
        self.holdback_wait_seconds = Histogram(
            GATEWAY_HOLDBACK_WAIT_SECONDS, "The part of each delta's hold after the next delta "
            "had arrived: the wait for the job's decision (or a timeout), beyond the one-delta "
            "look-ahead.", ("route",), buckets=(0.0, *HOLDBACK_BUCKETS), registry=r)
        self.late_decisions = Counter(
            GATEWAY_LATE_DECISIONS, "Control decisions that came after the stream ended or "
            "after the text had been released.", ("action",), registry=r)
        self.decision_timeouts = Counter(
            GATEWAY_DECISION_TIMEOUTS, "Held matches released (fail open) or redacted locally "
            "(fail closed) because no decision came in time.", ("mode",), registry=r)
        self.upstream_errors = Counter(GATEWAY_UPSTREAM_ERRORS, "Upstream failures by kind.",
                                       ("kind",), registry=r)

    def labels(self, route: str, provider: str, model: str | None) -> tuple[str, str, str]:
        """Return the bounded label values of one operation."""
        return route, provider, self.model_label(model)


RELAY_EVENTS = "midstream_realtime_events"
RELAY_AUDIO_SECONDS = "midstream_realtime_audio_seconds"
RELAY_STOPS = "midstream_realtime_stops"
RELAY_TRUNCATIONS = "midstream_realtime_truncations"
RELAY_SUPPRESSED_DELTAS = "midstream_realtime_suppressed_deltas"
RELAY_SESSIONS = "midstream_realtime_sessions"
RELAY_SESSIONS_OPEN = "midstream_realtime_sessions_open"
RELAY_REFUSED = "midstream_realtime_refused_connections"

RELAY_STOP_OUTCOMES = ("cancel_sent", "not_live", "already_stopped")
"""``outcome`` of a Realtime stop decision: response.cancel sent upstream, the response was
no longer live (it had finished), or it had been stopped before."""

RELAY_REFUSAL_REASONS = ("unauthorized", "rate_limited", "too_many_sessions",
                         "upstream_unreachable", "bad_request")
"""``reason`` of a refused Realtime client connection."""


class RelayMetrics:
    """Every metric of the Realtime relay, registered in ``registry``.

    Labels are small fixed sets: ``direction`` (``upstream``: events from OpenAI to the
    client, ``client``: events from the client to OpenAI), ``family`` (see
    :data:`midstream.connectors.openai.realtime.events.FAMILIES`), audio ``direction``
    (``output``: model speech, ``input``: the user's appended audio), stop ``outcome``
    (:data:`RELAY_STOP_OUTCOMES`) and refusal ``reason`` (:data:`RELAY_REFUSAL_REASONS`).

    Parameters
    ----------
    registry
        Where to register (a fresh ``CollectorRegistry()`` per test; the default
        registry in the entry point).

    Examples
    --------
    >>> registry = CollectorRegistry()
    >>> metrics = RelayMetrics(registry)
    >>> metrics.events.labels("upstream", "audio").inc()
    >>> registry.get_sample_value("midstream_realtime_events_total",
    ...                           {"direction": "upstream", "family": "audio"})
    1.0
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.events = Counter(RELAY_EVENTS, "Realtime events relayed, by direction and type "
                              "family.", ("direction", "family"), registry=r)
        self.audio_seconds = Counter(
            RELAY_AUDIO_SECONDS, "Seconds of audio relayed (output: model speech; input: "
            "appended user audio).", ("direction",), registry=r)
        self.stops = Counter(RELAY_STOPS, "Control stop decisions for Realtime responses, by "
                             "outcome.", ("outcome",), registry=r)
        self.truncations = Counter(
            RELAY_TRUNCATIONS, "conversation.item.truncate events sent upstream after a stop "
            "(audio had been playing).", registry=r)
        self.suppressed_deltas = Counter(
            RELAY_SUPPRESSED_DELTAS, "Output deltas of a stopped response that arrived after "
            "the stop and were not relayed to the client.", registry=r)
        self.sessions = Counter(RELAY_SESSIONS, "Realtime client sessions relayed.", registry=r)
        self.sessions_open = Gauge(RELAY_SESSIONS_OPEN, "Realtime client sessions open now.",
                                   registry=r)
        self.refused = Counter(RELAY_REFUSED, "Client connections refused, by reason.",
                               ("reason",), registry=r)


# -- Kafka output ----------------------------------------------------------------------------

KAFKA_OUTPUT_ERRORS = Counter(OUTPUT_ERRORS, "Output messages Kafka did not accept.", ("topic",))
"""Counted by :mod:`midstream.connectors.kafka.sink`'s delivery callback; once per process,
in the default registry, like every producer the sink shares."""


# -- Analysis errors (poison-pill containment) -----------------------------------------------
# An exception inside one stream's analysis dead-letters that event (reason ``analysis_error``),
# resets that stream's state, and is counted here; every other stream goes on. Labels: the
# flow, where it was raised (``event``, ``timer``, ``input_end``) and the exception's type name
# (a bounded set: types are code, not data).

ANALYSIS_ERRORS = "midstream_analysis_errors"
ANALYSIS_ERROR_LABELS = ("flow", "stage", "error")


def analysis_errors(registry: CollectorRegistry) -> Counter:
    """Return the analysis-errors counter of ``registry``, registering it on first use.

    Both flows' metrics share the one name, told apart by the ``flow`` label.

    Examples
    --------
    >>> registry = CollectorRegistry()
    >>> analysis_errors(registry).labels("llm_stream", "event", "ValueError").inc()
    >>> analysis_errors(registry) is analysis_errors(registry)
    True
    >>> registry.get_sample_value("midstream_analysis_errors_total",
    ...                           {"flow": "llm_stream", "stage": "event", "error": "ValueError"})
    1.0
    """
    existing = _analysis_errors.get(id(registry))
    if existing is not None and existing[0] is registry:
        return existing[1]
    counter = Counter(ANALYSIS_ERRORS, "Events and timers whose analysis raised; the stream's "
                      "state was reset and the event dead-lettered.", ANALYSIS_ERROR_LABELS,
                      registry=registry)
    _analysis_errors[id(registry)] = (registry, counter)
    return counter


_analysis_errors: dict[int, tuple[CollectorRegistry, Counter]] = {}

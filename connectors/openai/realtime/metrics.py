"""The Realtime relay's Prometheus metrics, defined once, with bounded labels.

Labels are small fixed sets: ``direction`` (``upstream``: events from OpenAI to
the client, ``client``: events from the client to OpenAI), ``family`` (see
:data:`midstream.connectors.openai.realtime.events.FAMILIES`), audio ``direction``
(``output``: model speech, ``input``: the user's appended audio) and stop
``outcome``. No session, response or stream ids.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = RelayMetrics(registry)
>>> metrics.events.labels("upstream", "audio").inc()
>>> registry.get_sample_value("midstream_realtime_events_total",
...                           {"direction": "upstream", "family": "audio"})
1.0
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

EVENTS = "midstream_realtime_events"
AUDIO_SECONDS = "midstream_realtime_audio_seconds"
STOPS = "midstream_realtime_stops"
TRUNCATIONS = "midstream_realtime_truncations"
SUPPRESSED_DELTAS = "midstream_realtime_suppressed_deltas"
SESSIONS = "midstream_realtime_sessions"
SESSIONS_OPEN = "midstream_realtime_sessions_open"
REFUSED = "midstream_realtime_refused_connections"

STOP_OUTCOMES = ("cancel_sent", "not_live", "already_stopped")
"""``outcome`` of a stop decision: response.cancel sent upstream, the response was no
longer live (it had finished), or it had been stopped before."""

REFUSAL_REASONS = ("unauthorized", "rate_limited", "too_many_sessions", "upstream_unreachable",
                   "bad_request")


class RelayMetrics:
    """Every metric of the Realtime relay, registered in ``registry``.

    Parameters
    ----------
    registry
        Where to register (a fresh ``CollectorRegistry()`` per test; the default
        registry in the entry point).
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events = Counter(EVENTS, "Realtime events relayed, by direction and type family.",
                              ("direction", "family"), registry=registry)
        self.audio_seconds = Counter(
            AUDIO_SECONDS, "Seconds of audio relayed (output: model speech; input: appended "
            "user audio).", ("direction",), registry=registry)
        self.stops = Counter(STOPS, "Control stop decisions for Realtime responses, by outcome.",
                             ("outcome",), registry=registry)
        self.truncations = Counter(
            TRUNCATIONS, "conversation.item.truncate events sent upstream after a stop "
            "(audio had been playing).", registry=registry)
        self.suppressed_deltas = Counter(
            SUPPRESSED_DELTAS, "Output deltas of a stopped response that arrived after the stop "
            "and were not relayed to the client.", registry=registry)
        self.sessions = Counter(SESSIONS, "Realtime client sessions relayed.", registry=registry)
        self.sessions_open = Gauge(SESSIONS_OPEN, "Realtime client sessions open now.",
                                   registry=registry)
        self.refused = Counter(REFUSED, "Client connections refused, by reason.", ("reason",),
                               registry=registry)

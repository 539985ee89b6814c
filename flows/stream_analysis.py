"""Per-stream analysis of an LLM token stream: health, rules and loops, turned into records.

:class:`StreamAnalyzer` is engine-agnostic glue between the contract
(:mod:`midstream.core.events`) and the pure operators. It holds what every stream
shares (config, compiled rules, metrics); each stream's :class:`StreamState`
is plain data that pickles, for Bytewax recovery.

Time has two meanings here. Event time (``ts`` in events) measures the
model: time to first token, gaps, duration. Processing time (``now``, the
clock of this process) drives the timers that must fire without new input:
a stall in progress, an abandoned stream, and forgetting ended streams.

Processing time says something about a stream only while the stream is live:
while its events reach us less than ``live_lag_seconds`` after their ``ts``.
A stream replayed from history (a backfill, a restart far behind) arrives as
fast as the job reads, so its processing-time gaps measure the machine, not
the model. For such a stream stalls and abandonment are judged on event time
only: a stall is a gap between consecutive event timestamps, abandonment a gap
of ``abandon_seconds`` or more, or the end of a bounded input. The same history
then gives the same insights however fast or loaded the machine is.

Examples
--------
>>> from midstream.core.events import TokenEvent
>>> analyzer = StreamAnalyzer.with_defaults()
>>> state = analyzer.new_state("s1")
>>> start = TokenEvent(v=1, stream_id="s1", seq=0, ts=100.0, kind="start")
>>> out = analyzer.on_event(state, start, now=0.0)
>>> delta = TokenEvent(v=1, stream_id="s1", seq=1, ts=100.2, kind="delta", text="I'm sorry")
>>> out = analyzer.on_event(state, delta, now=0.1)
>>> [(topic, record["kind"]) for topic, record in out]
[('insights', 'apology')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.core.metrics import LlmStreamMetrics
from midstream.core.rules_file import load_rules
from midstream.core.shapes_file import ShapeTemplate, load_shapes
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import Finding, SeriesAnalysis, SeriesState
from midstream.operators.repetition import RepetitionDetector
from midstream.operators.stream_health import StreamHealth
from midstream.operators.text_rules import Rule, RuleMatch, RuleSet, TextScanState

LIVE_LAG_SECONDS = 60.0
"""A stream whose events reach the job later than this after their ``ts`` is replayed history."""

MAX_DETECTIONS_KEPT = 64
"""Detections remembered per stream for the end-of-stream lead report (bounds state)."""


@dataclass(slots=True)
class Detection:
    """A detection remembered until the stream ends, to report its lead."""

    detector: str
    kind: str
    at_seq: int
    token_index: int


@dataclass(slots=True)
class StreamState:
    """Everything known about one open stream. Plain data: it pickles."""

    stream_id: str
    health: StreamHealth
    text: TextScanState
    loop: RepetitionDetector
    provider: str | None = None
    model: str | None = None
    last_seq: int = -1
    last_delta_seq: int = -1
    last_arrival: float = 0.0
    last_ts: float = 0.0
    """Event time of the latest event."""
    live: bool = True
    """Whether the latest event arrived within ``live_lag_seconds`` of its ``ts``."""
    stall_flagged_after: int = -1
    detections: list[Detection] = field(default_factory=list)
    detections_dropped: int = 0
    ended: bool = False
    counted_open: bool = False
    series: dict[str, SeriesState] = field(default_factory=dict)
    """Temporal analysis per numeric series (``itl``, ``logprob``), created on first sample."""


class StreamAnalyzer:
    """Analysis shared by every stream: config, compiled rules and metrics."""

    def __init__(
        self, config: AnalysisConfig, rules: Sequence[Rule], metrics: LlmStreamMetrics,
        shapes: Sequence[ShapeTemplate] = (), live_lag_seconds: float = LIVE_LAG_SECONDS,
    ) -> None:
        if config.loop_action not in ("stop", "flag", "none"):
            raise ValueError("loop_action must be one of 'stop', 'flag', 'none'")
        self.config = config
        self.live_lag_seconds = live_lag_seconds
        self.rules = RuleSet(rules)
        self.metrics = metrics
        self.series = SeriesAnalysis(
            regime_window=config.regime_window, regime_every=config.regime_every,
            regime_confirm=config.regime_confirm,
            lyapunov_window=config.lyapunov_window, lyapunov_every=config.lyapunov_every,
            lyapunov_emb_dim=config.lyapunov_emb_dim or None,
            templates=shapes,
        )
        self._chunk_children: dict[tuple[str | None, str | None], Any] = {}

    @classmethod
    def with_defaults(
        cls, config: AnalysisConfig | None = None, metrics: LlmStreamMetrics | None = None
    ) -> StreamAnalyzer:
        """An analyzer for ``config`` (default settings) with a private metrics registry."""
        from prometheus_client import CollectorRegistry

        return cls.from_config(config or AnalysisConfig(),
                               metrics or LlmStreamMetrics(CollectorRegistry()))

    @classmethod
    def from_config(cls, config: AnalysisConfig, metrics: LlmStreamMetrics) -> StreamAnalyzer:
        """An analyzer with the rules and shape templates the config's files hold."""
        shapes = load_shapes(config.shapes_path) if config.shapes_path else ()
        return cls(config, load_rules(config.rules_path), metrics, shapes)

    def new_state(self, stream_id: str) -> StreamState:
        """Fresh state for a stream seen for the first time."""
        c = self.config
        return StreamState(
            stream_id=stream_id,
            health=StreamHealth(stall_seconds=c.stall_seconds),
            text=TextScanState(),
            loop=RepetitionDetector(
                max_period=c.loop_max_period,
                min_repeats=c.loop_min_repeats,
                min_tokens=c.loop_min_tokens,
            ),
        )

    # -- events ---------------------------------------------------------------------------

    def on_event(self, state: StreamState, event: events.TokenEvent, now: float) -> list[Output]:
        """Apply one event to its stream; return the insights and control events it causes."""
        m = self.metrics
        out: list[Output] = []
        if event.seq <= state.last_seq:
            m.sequence_anomalies.labels("duplicate").inc()
            return out
        if not state.live and not state.ended and state.counted_open \
                and event.ts - state.last_ts >= self.config.abandon_seconds:
            # Replayed history: the gap in event time says the stream was abandoned.
            self._abandon_in_event_time(state, out)
        if state.ended:
            m.sequence_anomalies.labels("after_end").inc()
            return out
        if not state.counted_open:
            state.counted_open = True
            m.streams_started.inc()
            m.streams_open.inc()
        if state.last_seq >= 0 and event.seq != state.last_seq + 1:
            m.sequence_anomalies.labels("gap").inc()
            self._insight(out, state, event.ts, "sequence", "gap", "info", event.seq,
                          {"expected_seq": state.last_seq + 1, "missing": event.seq -
                           state.last_seq - 1})
        state.last_seq = event.seq
        state.last_arrival = now
        state.last_ts = event.ts
        state.live = now - event.ts <= self.live_lag_seconds
        if event.provider is not None:
            state.provider = event.provider
        if event.model is not None:
            state.model = event.model
        kind = event.kind
        if kind == "delta":
            self._on_delta(state, event, out)
        elif kind == "start":
            state.health.on_start(event.ts)
        else:
            self._on_end(state, event, out)
        return out

    def _on_delta(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        health = state.health
        token_index = health.tokens
        previous_delta_seq = state.last_delta_seq
        gap = health.on_token(event.ts)
        state.last_delta_seq = event.seq
        if gap is None:
            ttft = health.time_to_first_token
            if ttft is not None:
                labels = self.metrics.model_labels(state.provider, state.model)
                self.metrics.time_to_first_chunk.labels(*labels).observe(ttft)
        else:
            self._chunk_histogram(state).observe(gap)
            # Milliseconds, to the microsecond: finer differences are float artefacts of
            # subtracting epoch timestamps (0.24 µs apart near 1.7e9 s), not latency.
            self._on_series(state, "itl", round(gap * 1000.0, 3), event, out)
            if gap > self.config.stall_seconds:
                self.metrics.stall_seconds.observe(gap)
                if state.stall_flagged_after != previous_delta_seq:
                    self._flag_stall(state, event.ts, previous_delta_seq, gap, live=False, out=out)
        if event.logprob is not None:
            self._on_series(state, "logprob", event.logprob, event, out)
        text = event.text or ""
        for match in self.rules.scan(state.text, text):
            self._on_rule_match(state, event, token_index, match, out)
        loop = state.loop.update(text)
        if loop is not None:
            # The token-id sequence has become exactly periodic: a repetition loop.
            detail = {
                "series": "token_ids",
                "period_tokens": loop.period,
                "repeats": round(loop.repeats, 2),
                "loop_start_token": loop.start,
                "token_index": token_index,
            }
            self._insight(out, state, event.ts, "regime", "periodic", "warning", event.seq, detail,
                          instance="token_ids")
            self._remember(state, "regime", "periodic", event.seq, token_index)
            if self.config.loop_action == "stop":
                self._control(out, state, event.ts, "stop", "repetition_loop", event.seq)

    def _on_rule_match(
        self, state: StreamState, event: events.TokenEvent, token_index: int, match: RuleMatch,
        out: list[Output],
    ) -> None:
        rule = match.rule
        detail: dict[str, Any] = {
            "category": rule.category,
            "token_index": token_index,
            "span": [match.start, match.end],
            "action": rule.action,
        }
        # PII stays out of insights: they feed dashboards and logs. Phrases come from the
        # rules file, so echoing them leaks nothing.
        if match.phrase is not None:
            detail["phrase"] = match.phrase
        self._insight(out, state, event.ts, "rules", rule.name, rule.severity, event.seq, detail,
                      instance=None if rule.reports_once else match.start)
        self._remember(state, "rules", rule.name, event.seq, token_index)
        if rule.action == "stop":
            self._control(out, state, event.ts, "stop", rule.name, event.seq)
        elif rule.action == "redact":
            self._control(out, state, event.ts, "redact", rule.name, event.seq,
                          span=(match.start, match.end))

    def _on_end(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        m = self.metrics
        health = state.health
        health.on_end(event.ts)
        state.ended = True
        for name, series in state.series.items():
            for finding in self.series.on_end(series, event.seq):
                self._finding(out, state, event.ts, finding, name)
        m.streams_completed.inc()
        m.streams_open.dec()
        labels = m.model_labels(state.provider, state.model)
        if health.duration is not None:
            m.operation_duration.labels(*labels).observe(health.duration)
        rate = health.tokens_per_second
        if rate is not None:
            m.tokens_per_second.labels(*labels).observe(rate)
        usage = (event.meta or {}).get("usage")
        output_tokens = health.tokens
        if isinstance(usage, dict):
            completion = usage.get("completion_tokens", usage.get("output_tokens"))
            prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
            if isinstance(completion, int):
                output_tokens = completion
            if isinstance(prompt, int):
                m.token_usage.labels(*labels, "input").observe(prompt)
        m.token_usage.labels(*labels, "output").observe(output_tokens)
        detections = []
        for d in state.detections:
            lead = health.tokens - 1 - d.token_index
            m.detection_lead.labels(d.detector).observe(lead)
            detections.append({"detector": d.detector, "kind": d.kind, "at_seq": d.at_seq,
                               "token_index": d.token_index, "lead_tokens": lead})
        detail = self._health_detail(state)
        detail["detections"] = detections
        if state.series:
            detail["series"] = {name: self.series.summary(series)
                                for name, series in state.series.items()}
        if state.detections_dropped:
            detail["detections_not_listed"] = state.detections_dropped
        finish_reason = (event.meta or {}).get("finish_reason")
        if isinstance(finish_reason, str):
            detail["finish_reason"] = finish_reason
        self._insight(out, state, event.ts, "health", "summary", "info", event.seq, detail)

    def _on_series(
        self, state: StreamState, name: str, value: float, event: events.TokenEvent,
        out: list[Output],
    ) -> None:
        series = state.series.get(name)
        if series is None:
            if not self.series.active:
                return
            series = state.series[name] = self.series.new_state(name)
        for finding in self.series.on_sample(series, value, event.seq):
            self._finding(out, state, event.ts, finding, name)

    def _finding(
        self, out: list[Output], state: StreamState, ts: float, finding: Finding, series: str
    ) -> None:
        detail = {**finding.detail, "token_index": state.health.tokens - 1}
        self._insight(out, state, ts, finding.detector, finding.kind, finding.severity,
                      finding.at_seq, detail, instance=series)

    # -- timers ---------------------------------------------------------------------------

    def next_timer(self, state: StreamState) -> float:
        """Processing time at which :meth:`on_timer` must next run for this stream."""
        c = self.config
        if state.ended:
            return state.last_arrival + c.ended_grace_seconds
        due = state.last_arrival + c.abandon_seconds
        if (state.live and state.health.tokens > 0
                and state.stall_flagged_after != state.last_delta_seq):
            due = min(due, state.last_arrival + c.stall_seconds)
        return due

    def on_timer(self, state: StreamState, now: float) -> tuple[list[Output], bool]:
        """Fire due timers. Returns the outputs and whether the stream's state can go.

        A replayed stream gets only the abandonment timer, as a watermark: when
        the job has read on for ``abandon_seconds`` without a next event, none
        is coming, and the verdict is the event-time one that the end of the
        input would give.
        """
        c = self.config
        out: list[Output] = []
        silent = now - state.last_arrival
        if state.ended:
            return out, silent >= c.ended_grace_seconds
        if not state.live:
            if silent >= c.abandon_seconds:
                self._abandon_in_event_time(state, out)
                state.last_arrival = now
            return out, False
        if silent >= c.abandon_seconds:
            self.metrics.streams_abandoned.inc()
            self.metrics.streams_open.dec()
            detail = self._health_detail(state)
            detail["silent_seconds"] = round(silent, 3)
            self._insight(out, state, now, "health", "abandoned", "warning", state.last_seq,
                          detail)
            # Keep the state as ended for the grace period: an event that still trickles in
            # is counted as late instead of opening a fresh, truncated stream.
            state.ended = True
            state.last_arrival = now
            return out, False
        if (
            silent >= c.stall_seconds
            and state.health.tokens > 0
            and state.stall_flagged_after != state.last_delta_seq
        ):
            self._flag_stall(state, now, state.last_delta_seq, silent, live=True, out=out)
        return out, False

    def on_input_end(self, state: StreamState) -> list[Output]:
        """The input ended (a bounded replay): a replayed stream without its end was abandoned.

        A live stream keeps its processing-time timers, which fire if the flow lives on.
        """
        out: list[Output] = []
        if not state.live and not state.ended and state.counted_open:
            self._abandon_in_event_time(state, out)
        return out

    def _abandon_in_event_time(self, state: StreamState, out: list[Output]) -> None:
        """Report a replayed stream abandoned ``abandon_seconds`` after its latest event."""
        c = self.config
        self.metrics.streams_abandoned.inc()
        self.metrics.streams_open.dec()
        detail = self._health_detail(state)
        detail["silent_seconds"] = c.abandon_seconds
        detail["live"] = False
        self._insight(out, state, state.last_ts + c.abandon_seconds, "health", "abandoned",
                      "warning", state.last_seq, detail)
        state.ended = True

    # -- helpers --------------------------------------------------------------------------

    def _chunk_histogram(self, state: StreamState) -> Any:
        """The per-chunk latency histogram child for this stream's model, cached (hot path)."""
        key = (state.provider, state.model)
        child = self._chunk_children.get(key)
        if child is None:
            labels = self.metrics.model_labels(*key)
            child = self._chunk_children[key] = self.metrics.time_per_output_chunk.labels(*labels)
        return child

    def _flag_stall(
        self, state: StreamState, ts: float, after_seq: int, gap: float, *, live: bool,
        out: list[Output],
    ) -> None:
        state.stall_flagged_after = after_seq
        self.metrics.stalls.inc()
        detail = {"gap_seconds": round(gap, 3), "threshold_seconds": self.config.stall_seconds,
                  "token_index": state.health.tokens - 1, "live": live}
        self._insight(out, state, ts, "health", "stall", "warning", after_seq, detail)

    def _health_detail(self, state: StreamState) -> dict[str, Any]:
        h = state.health
        return {
            "provider": state.provider,
            "model": state.model,
            "tokens": h.tokens,
            "time_to_first_token_s": _rounded(h.time_to_first_token),
            "duration_s": _rounded(h.duration),
            "tokens_per_second": _rounded(h.tokens_per_second),
            "stalls": h.stalls,
            "longest_gap_s": round(h.longest_gap, 4),
        }

    def _remember(
        self, state: StreamState, detector: str, kind: str, at_seq: int, token_index: int
    ) -> None:
        if len(state.detections) < MAX_DETECTIONS_KEPT:
            state.detections.append(Detection(detector, kind, at_seq, token_index))
        else:
            state.detections_dropped += 1

    def _insight(
        self, out: list[Output], state: StreamState, ts: float, detector: str, kind: str,
        severity: str, at_seq: int, detail: dict[str, Any], instance: int | str | None = None,
    ) -> None:
        self.metrics.insights.labels(detector, kind).inc()
        out.append(("insights", events.insight(
            stream_id=state.stream_id, ts=ts, detector=detector, kind=kind,
            severity=severity, at_seq=at_seq, detail=detail, instance=instance,
        )))

    def _control(
        self, out: list[Output], state: StreamState, ts: float, action: str, reason: str,
        at_seq: int, span: tuple[int, int] | None = None,
    ) -> None:
        self.metrics.control_events.labels(action).inc()
        out.append(("control", events.control(
            stream_id=state.stream_id, ts=ts, action=action, reason=reason, at_seq=at_seq,
            span=span,
        )))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

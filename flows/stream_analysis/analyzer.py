"""The LLM-stream analyzer: one event at a time, through every detector of a token stream.

:class:`StreamAnalyzer` is engine-agnostic glue between the contract
(:mod:`midstream.core.events`) and the detectors of this package. It holds what
every stream shares (config, compiled rules, metrics); each stream's
:class:`~midstream.flows.stream_analysis.state.StreamState` is plain data that
pickles, for Bytewax recovery.
"""

from __future__ import annotations

from collections.abc import Sequence

from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.core.metrics import LlmStreamMetrics
from midstream.core.rules_file import load_rules
from midstream.core.shapes_file import ShapeTemplate, load_shapes
from midstream.flows.outputs import Output
from midstream.flows.series_analysis import SeriesAnalysis
from midstream.flows.stream_analysis.abandonment import Abandonment
from midstream.flows.stream_analysis.latency import Latency
from midstream.flows.stream_analysis.loops import LoopFindings
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.rules import RuleFindings
from midstream.flows.stream_analysis.series import SeriesFindings
from midstream.flows.stream_analysis.stalls import Stalls
from midstream.flows.stream_analysis.state import StreamState
from midstream.flows.stream_analysis.summary import Summary
from midstream.flows.stream_analysis.timers import LIVE_LAG_SECONDS, Timers
from midstream.operators.repetition import RepetitionDetector
from midstream.operators.stream_health import StreamHealth
from midstream.operators.text_rules import Rule, TextScanState


class StreamAnalyzer:
    """Analysis shared by every stream: config, compiled rules and metrics.

    Parameters
    ----------
    config
        Thresholds and detector settings.
    rules
        The text rules (:mod:`midstream.core.rules_file`).
    metrics
        Where to count.
    shapes
        Shape templates matched on the numeric series.
    live_lag_seconds
        A stream whose events arrive later than this after their ``ts`` is
        replayed history, judged on event time only (:mod:`.timers`).

    Examples
    --------
    >>> analyzer = StreamAnalyzer.with_defaults()
    >>> state = analyzer.new_state("s1")
    >>> start = events.TokenEvent(v=1, stream_id="s1", seq=0, ts=100.0, kind="start")
    >>> out = analyzer.on_event(state, start, now=100.1)
    >>> delta = events.TokenEvent(v=1, stream_id="s1", seq=1, ts=100.2, kind="delta",
    ...                           text="I'm sorry")
    >>> [(topic, record.kind) for topic, record in analyzer.on_event(state, delta, 100.3)]
    [('insights', 'apology')]
    """

    def __init__(
        self, config: AnalysisConfig, rules: Sequence[Rule], metrics: LlmStreamMetrics,
        shapes: Sequence[ShapeTemplate] = (), live_lag_seconds: float = LIVE_LAG_SECONDS,
    ) -> None:
        self.config = config
        self.metrics = metrics
        records = Records(metrics)
        self.loops = LoopFindings(config.loop_action, records)
        self.rule_findings = RuleFindings(rules, records)
        self.rules = self.rule_findings.rules
        self.series = SeriesFindings(SeriesAnalysis(
            regime_window=config.regime_window, regime_every=config.regime_every,
            regime_confirm=config.regime_confirm,
            lyapunov_window=config.lyapunov_window, lyapunov_every=config.lyapunov_every,
            lyapunov_emb_dim=config.lyapunov_emb_dim or None,
            templates=shapes,
        ), records)
        self.records = records
        self.latency = Latency(metrics)
        self.stalls = Stalls(config, records)
        self.timers = Timers(config, self.stalls, Abandonment(config, records),
                             live_lag_seconds)
        self.summary = Summary(records, self.series)

    @classmethod
    def with_defaults(
        cls, config: AnalysisConfig | None = None, metrics: LlmStreamMetrics | None = None
    ) -> StreamAnalyzer:
        """Make an analyzer for ``config`` (default settings) with a private metrics registry."""
        from prometheus_client import CollectorRegistry

        return cls.from_config(config or AnalysisConfig(),
                               metrics or LlmStreamMetrics(CollectorRegistry()))

    @classmethod
    def from_config(cls, config: AnalysisConfig, metrics: LlmStreamMetrics) -> StreamAnalyzer:
        """Make an analyzer with the rules and shape templates the config's files hold."""
        shapes = load_shapes(config.shapes_path) if config.shapes_path else ()
        return cls(config, load_rules(config.rules_path), metrics, shapes)

    def warm_up(self) -> None:
        """Compile the numeric kernels now, so that no event pays for it later.

        numba compiles a kernel on its first call. The regime and Lyapunov
        kernels are first called when a stream's series first varies, which
        can be one odd delta (``ts = 1e300``) deep into a job's life: that
        event then stalls every stream of its worker for the compile (about
        0.4 s, 50 ms with numba's on-disk cache). A job calls this once at
        start; it runs a chaotic stream through a private copy of this
        analyzer (same settings, its own metrics), so nothing is emitted or counted.

        Examples
        --------
        >>> StreamAnalyzer.with_defaults().warm_up()
        """
        private = StreamAnalyzer.with_defaults(self.config)
        state = private.new_state("warm-up")
        private.on_event(state, events.TokenEvent(v=1, stream_id="warm-up", seq=0, ts=0.0,
                                                  kind="start"), 0.0)
        ts, x = 0.0, 0.3
        samples = max(self.config.regime_window, self.config.lyapunov_window) + 2 * max(
            self.config.regime_every, self.config.lyapunov_every)
        for seq in range(1, samples + 1):
            x = 3.99 * x * (1.0 - x)  # the logistic map: a series every kernel must look at
            ts += 0.01 + 0.05 * x
            private.on_event(state, events.TokenEvent(v=1, stream_id="warm-up", seq=seq, ts=ts,
                                                      kind="delta", text="w", logprob=-x), ts)

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
        self.timers.check_gap(state, event, out)
        if state.ended:
            m.sequence_anomalies.labels("after_end").inc()
            return out
        if not state.counted_open:
            state.counted_open = True
            m.streams_started.inc()
            m.streams_open.inc()
        if state.last_seq >= 0 and event.seq != state.last_seq + 1:
            m.sequence_anomalies.labels("gap").inc()
            self.records.insight(out, state, event.ts, "sequence", "gap", "info", event.seq,
                                 {"expected_seq": state.last_seq + 1,
                                  "missing": event.seq - state.last_seq - 1})
        state.last_seq = event.seq
        self.timers.on_arrival(state, event, now)
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
            self.summary.on_end(state, event, out)
        return out

    def _on_delta(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        token_index = state.health.tokens
        previous_delta_seq = state.last_delta_seq
        gap = self.latency.on_token(state, event)
        state.last_delta_seq = event.seq
        if gap is not None:
            # Milliseconds, to the microsecond: finer differences are float artefacts of
            # subtracting epoch timestamps (0.24 µs apart near 1.7e9 s), not latency.
            self.series.on_sample(state, "itl", round(gap * 1000.0, 3), event, out)
            self.stalls.on_gap(state, event, previous_delta_seq, gap, out)
        if event.logprob is not None:
            self.series.on_sample(state, "logprob", event.logprob, event, out)
        text = event.text or ""
        self.rule_findings.on_text(state, event, token_index, text, out)
        self.loops.on_text(state, event, token_index, text, out)

    # -- timers ---------------------------------------------------------------------------

    def next_timer(self, state: StreamState) -> float:
        """Return the processing time at which :meth:`on_timer` must next run for this stream."""
        return self.timers.next_timer(state)

    def on_timer(self, state: StreamState, now: float) -> tuple[list[Output], bool]:
        """Fire due timers. Returns the outputs and whether the stream's state can go."""
        return self.timers.on_timer(state, now)

    def on_input_end(self, state: StreamState) -> list[Output]:
        """Return the records the end of a bounded input makes certain (replayed streams' abandonment)."""
        return self.timers.on_input_end(state)

    def forget(self, state: StreamState) -> None:
        """Drop a stream before its end (its analysis raised): it no longer counts as open."""
        if state.counted_open and not state.ended:
            state.counted_open = False
            self.metrics.streams_open.dec()

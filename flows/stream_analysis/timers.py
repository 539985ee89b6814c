"""Processing-time timers of one stream, and when they may speak: only while it is live.

A stream is live while its events reach the job less than ``live_lag_seconds``
after their ``ts``. Then the job's clock stands for the producer's, and a
silence on it is a fact: a stall in progress, an abandoned stream. Replayed
history (a backfill, a restart far behind) arrives as fast as the job reads:
its processing-time gaps measure the machine. Such a stream is judged on event
time only: stalls by the gaps between event timestamps (:mod:`.stalls`),
abandonment by a gap of ``abandon_seconds``, the end of a bounded input, or,
as a watermark, ``abandon_seconds`` of reading on without its next event. The
same history then gives the same insights on any machine.
"""

from __future__ import annotations

from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.abandonment import Abandonment
from midstream.flows.stream_analysis.stalls import Stalls
from midstream.flows.stream_analysis.state import StreamState

LIVE_LAG_SECONDS = 60.0
"""A stream whose events reach the job later than this after their ``ts`` is replayed history."""


def arrived_live(event_ts: float, now: float, live_lag_seconds: float = LIVE_LAG_SECONDS) -> bool:
    """Whether an event stamped ``event_ts`` that arrives at ``now`` belongs to a live stream.

    Events from the future (a producer's clock ahead of ours) are live too.

    >>> arrived_live(1_000.0, now=1_000.3), arrived_live(1_000.0, now=5_000.0)
    (True, False)
    """
    return now - event_ts <= live_lag_seconds


class Timers:
    """What fires without new input, per stream: stalls, abandonment, forgetting ended streams.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> from midstream.flows.stream_analysis import StreamAnalyzer
    >>> from midstream.flows.stream_analysis.records import Records
    >>> config = AnalysisConfig(stall_seconds=2.0, abandon_seconds=30.0)
    >>> records = Records(LlmStreamMetrics(CollectorRegistry()))
    >>> timers = Timers(config, Stalls(config, records), Abandonment(config, records))
    >>> state = StreamAnalyzer.with_defaults(config).new_state("s")
    >>> state.health.tokens, state.last_delta_seq, state.last_arrival = 1, 1, 100.0
    >>> timers.next_timer(state)             # live: a stall is due first
    102.0
    >>> state.live = False
    >>> timers.next_timer(state)             # replayed: only the abandonment watermark
    130.0
    """

    def __init__(self, config: AnalysisConfig, stalls: Stalls, abandonment: Abandonment,
                 live_lag_seconds: float = LIVE_LAG_SECONDS) -> None:
        self.config = config
        self.stalls = stalls
        self.abandonment = abandonment
        self.live_lag_seconds = live_lag_seconds

    def check_gap(self, state: StreamState, event: events.TokenEvent,
                  out: list[Output]) -> None:
        """Before ``event`` counts: in replayed history, a gap of ``abandon_seconds`` abandons."""
        if (not state.live and not state.ended and state.counted_open
                and event.ts - state.last_ts >= self.config.abandon_seconds):
            self.abandonment.in_event_time(state, out)

    def on_arrival(self, state: StreamState, event: events.TokenEvent, now: float) -> None:
        """Note when ``event`` arrived, and whether its stream is live."""
        state.last_arrival = now
        state.last_ts = event.ts
        state.live = arrived_live(event.ts, now, self.live_lag_seconds)

    def next_timer(self, state: StreamState) -> float:
        """Return the processing time at which :meth:`on_timer` must next run for this stream."""
        c = self.config
        if state.ended:
            return state.last_arrival + c.ended_grace_seconds
        due = state.last_arrival + c.abandon_seconds
        if state.live and self.stalls.pending(state):
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
                self.abandonment.in_event_time(state, out)
                state.last_arrival = now
            return out, False
        if silent >= c.abandon_seconds:
            self.abandonment.live(state, now, out)
            return out, False
        if silent >= c.stall_seconds and self.stalls.pending(state):
            self.stalls.flag(state, now, state.last_delta_seq, silent, live=True, out=out)
        return out, False

    def on_input_end(self, state: StreamState) -> list[Output]:
        """End the input (a bounded replay): a replayed stream without its end was abandoned.

        A live stream keeps its processing-time timers, which fire if the flow lives on.
        """
        out: list[Output] = []
        if not state.live and not state.ended and state.counted_open:
            self.abandonment.in_event_time(state, out)
        return out

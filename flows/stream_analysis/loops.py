"""Repetition loops: the stream's token ids have become exactly periodic, so it is stopped."""

from __future__ import annotations

from midstream.core import events
from midstream.flows.outputs import Output
from midstream.flows.stream_analysis.records import Records
from midstream.flows.stream_analysis.state import StreamState

LOOP_ACTIONS = ("stop", "flag", "none")
"""What a loop makes the flow do (``AnalysisConfig.loop_action``)."""


class LoopFindings:
    """Feeds each delta to the stream's repetition detector; a loop is an insight and a stop.

    Parameters
    ----------
    loop_action
        ``stop`` sends a stop control event with the insight; ``flag`` and
        ``none`` only report it.
    records
        Where the records go.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry
    >>> from midstream.core.metrics import LlmStreamMetrics
    >>> LoopFindings("halt", Records(LlmStreamMetrics(CollectorRegistry())))
    Traceback (most recent call last):
    ...
    ValueError: loop_action must be one of 'stop', 'flag', 'none'
    """

    def __init__(self, loop_action: str, records: Records) -> None:
        if loop_action not in LOOP_ACTIONS:
            raise ValueError("loop_action must be one of 'stop', 'flag', 'none'")
        self.loop_action = loop_action
        self.records = records

    def on_text(self, state: StreamState, event: events.TokenEvent, token_index: int,
                text: str, out: list[Output]) -> None:
        """Add the text ``event`` brings; report the loop it completes, if any."""
        loop = state.loop.update(text)
        if loop is None:
            return
        detail = {
            "series": "token_ids",
            "period_tokens": loop.period,
            "repeats": round(loop.repeats, 2),
            "loop_start_token": loop.start,
            "token_index": token_index,
        }
        records = self.records
        records.insight(out, state, event.ts, "regime", "periodic", "warning", event.seq, detail,
                        instance="token_ids")
        records.remember(state, "regime", "periodic", event.seq, token_index)
        if self.loop_action == "stop":
            records.control(out, state, event.ts, "stop", "repetition_loop", event.seq)

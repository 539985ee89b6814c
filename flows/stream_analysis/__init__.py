"""Per-stream analysis of an LLM token stream: health, rules, loops and series, as records.

One module per idea: :mod:`.analyzer` composes them; :mod:`.state` is what a
stream remembers; :mod:`.latency`, :mod:`.stalls`, :mod:`.abandonment` and
:mod:`.timers` judge its timing; :mod:`.rules`, :mod:`.loops` and
:mod:`.series` its content; :mod:`.summary` closes it; :mod:`.records` turns
findings into insight and control records.

Time has two meanings here. Event time (``ts`` in events) measures the
model: time to first token, gaps, duration. Processing time (``now``, the
clock of this process) drives the timers that must fire without new input:
a stall in progress, an abandoned stream, and forgetting ended streams. It
counts only while a stream is live; replayed history is judged on event time,
so the same history gives the same insights on any machine (:mod:`.timers`).

Examples
--------
>>> from midstream.core.events import TokenEvent
>>> analyzer = StreamAnalyzer.with_defaults()
>>> state = analyzer.new_state("s1")
>>> start = TokenEvent(v=1, stream_id="s1", seq=0, ts=100.0, kind="start")
>>> out = analyzer.on_event(state, start, now=0.0)
>>> delta = TokenEvent(v=1, stream_id="s1", seq=1, ts=100.2, kind="delta", text="I'm sorry")
>>> out = analyzer.on_event(state, delta, now=0.1)
>>> [(topic, record.kind) for topic, record in out]
[('insights', 'apology')]
"""

from __future__ import annotations

from midstream.flows.stream_analysis.analyzer import StreamAnalyzer
from midstream.flows.stream_analysis.state import MAX_DETECTIONS_KEPT, Detection, StreamState
from midstream.flows.stream_analysis.timers import LIVE_LAG_SECONDS

__all__ = ["LIVE_LAG_SECONDS", "MAX_DETECTIONS_KEPT", "Detection", "StreamAnalyzer",
           "StreamState"]

"""The production LLM-stream job with one real detector step made to raise: a test-only flow.

``python -m bytewax.run tests.integration.failing_detector_flow`` runs exactly what
``midstream.flows.llm_stream`` runs (Kafka source and sink from the environment), except
that the analyzer's delta step raises ``ZeroDivisionError`` on the text ``"boom"``.
"""

from __future__ import annotations

import functools
import os

from bytewax.dataflow import Dataflow

from midstream.core import events
from midstream.core.config import AnalysisConfig
from midstream.core.metrics import default_metrics
from midstream.flows.llm_stream import build_flow
from midstream.flows.outputs import Output
from midstream.flows.routing import kafka_dataflow
from midstream.flows.stream_analysis import StreamAnalyzer, StreamState


class FailingAnalyzer(StreamAnalyzer):
    """The real analyzer, whose delta step raises for the text ``"boom"``."""

    def _on_delta(self, state: StreamState, event: events.TokenEvent, out: list[Output]) -> None:
        if event.text == "boom":
            raise ZeroDivisionError("injected")
        super()._on_delta(state, event, out)


def _flow() -> Dataflow:
    analyzer = FailingAnalyzer.from_config(AnalysisConfig.from_env(os.environ), default_metrics())
    return kafka_dataflow(os.environ, lambda topics: topics.tokens,
                          functools.partial(build_flow, analyzer=analyzer))


flow = _flow()

"""Local service stack for development and tests: a real Kafka broker and Prometheus, no Docker.

Use it from the shell::

    python -m midstream.stack up        # or: midstream stack up
    python -m midstream.stack status
    python -m midstream.stack down

or from Python, e.g. in tests::

    state = read_state()                # what `up` recorded, or None
    if state is not None and state.is_running():
        create_topics(state.brokers, ["midstream.llm.tokens"], partitions=4)
        query(state.prometheus_url, "up")
"""

from __future__ import annotations

from midstream.stack.command import run_stack_command
from midstream.stack.exceptions import StackError
from midstream.stack.kafka import KafkaBroker, create_topics, start_kafka, stop_kafka
from midstream.stack.lifecycle import stack_down, stack_up, start_stack, stop_stack
from midstream.stack.prometheus import (
    PrometheusServer,
    query,
    query_until,
    render_config,
    start_prometheus,
    stop_prometheus,
)
from midstream.stack.state import StackState, read_state

__all__ = [
    "KafkaBroker",
    "PrometheusServer",
    "StackError",
    "StackState",
    "create_topics",
    "query",
    "query_until",
    "read_state",
    "render_config",
    "run_stack_command",
    "stack_down",
    "stack_up",
    "start_kafka",
    "start_prometheus",
    "start_stack",
    "stop_kafka",
    "stop_prometheus",
    "stop_stack",
]

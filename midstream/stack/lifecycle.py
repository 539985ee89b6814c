"""Bring the whole local stack (Kafka, then optionally Prometheus) up and down as one unit.

:func:`start_stack` and :func:`stop_stack` manage processes only; tests use
them for a private stack. :func:`stack_up` and :func:`stack_down` add the
shared record in the state directory, and are what ``midstream stack up`` and
``down`` run.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from midstream.stack import kafka, prometheus
from midstream.stack.paths import resolve_state_dir
from midstream.stack.state import StackState, read_state, remove_state, write_state


def start_stack(
    *,
    kafka_port: int = kafka.DEFAULT_PORT,
    prometheus_port: int | None = prometheus.DEFAULT_PORT,
    scrape_targets: Sequence[str] = prometheus.DEFAULT_TARGETS,
    timeout: float = 60.0,
) -> StackState:
    """Start Kafka and (unless ``prometheus_port`` is ``None``) Prometheus; wait for both.

    Both processes start before either is waited on, so their start-up overlaps.

    Parameters
    ----------
    kafka_port
        Kafka client port (controller on the next one); ``0`` picks free ports.
    prometheus_port
        Prometheus web port; ``0`` picks a free one; ``None`` skips Prometheus.
    scrape_targets
        ``host:port`` endpoints Prometheus scrapes.
    timeout
        Seconds each service may take to become ready.

    Returns
    -------
    StackState
        The ready stack. Nothing is written to disk besides the services' own
        temporary directories.

    Raises
    ------
    StackError
        If a service cannot start. Whatever did start is stopped first.
    """
    broker: kafka.KafkaBroker | None = None
    server: prometheus.PrometheusServer | None = None
    try:
        if prometheus_port is not None:
            # Render first: a bad target should fail before a JVM starts.
            prometheus.render_config(scrape_targets)
        broker = kafka.launch_kafka(kafka_port)
        if prometheus_port is not None:
            server = prometheus.launch_prometheus(prometheus_port, scrape_targets)
        kafka.wait_for_kafka(broker, timeout=timeout)
        if server is not None:
            prometheus.wait_for_prometheus(server, timeout=timeout)
    except BaseException:
        if server is not None:
            prometheus.stop_prometheus(server, timeout=5.0)
        if broker is not None:
            kafka.stop_kafka(broker, timeout=5.0)
        raise
    return StackState(kafka=broker, prometheus=server, started_at=time.time())


def stop_stack(state: StackState, *, timeout: float = 30.0) -> None:
    """Stop every service of ``state`` by PID and delete their temporary directories.

    Services that already exited are fine. A PID now used by an unrelated
    program is never signalled (see :func:`midstream.stack.process.is_alive`).
    """
    if state.prometheus is not None:
        prometheus.stop_prometheus(state.prometheus, timeout=timeout)
    kafka.stop_kafka(state.kafka, timeout=timeout)


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    # Serialises concurrent `up`/`down` on one state directory (e.g. two terminals).
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def stack_up(
    state_dir: str | os.PathLike[str] | None = None,
    *,
    kafka_port: int = kafka.DEFAULT_PORT,
    prometheus_port: int | None = prometheus.DEFAULT_PORT,
    scrape_targets: Sequence[str] = prometheus.DEFAULT_TARGETS,
    timeout: float = 60.0,
) -> tuple[StackState, bool]:
    """Start the stack and record it, unless a recorded stack is already running.

    A recorded stack whose processes died is cleaned up and replaced.
    Parameters other than ``state_dir`` are those of :func:`start_stack`.

    Returns
    -------
    tuple of (StackState, bool)
        The running stack, and whether this call started it (``False`` when
        it was already up, in which case the arguments were ignored).
    """
    directory = resolve_state_dir(state_dir)
    with _locked(directory):
        existing = read_state(directory)
        if existing is not None:
            if existing.is_running():
                return existing, False
            stop_stack(existing, timeout=10.0)
            remove_state(directory)
        state = start_stack(
            kafka_port=kafka_port,
            prometheus_port=prometheus_port,
            scrape_targets=scrape_targets,
            timeout=timeout,
        )
        try:
            write_state(state, directory)
        except BaseException:
            stop_stack(state, timeout=5.0)
            raise
        return state, True


def stack_down(
    state_dir: str | os.PathLike[str] | None = None, *, timeout: float = 30.0
) -> StackState | None:
    """Stop the recorded stack, delete its data and its record.

    Returns
    -------
    StackState or None
        What was stopped, or ``None`` if no stack was recorded.
    """
    directory = resolve_state_dir(state_dir)
    with _locked(directory):
        state = read_state(directory)
        if state is None:
            return None
        stop_stack(state, timeout=timeout)
        remove_state(directory)
        return state

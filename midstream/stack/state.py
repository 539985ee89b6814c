"""The record of a running local stack (``state.json``), so later commands and tests can find it.

``midstream stack up`` writes ``<state dir>/state.json`` once every service is
ready; ``down`` removes it. The state directory is ``<repo>/.stack`` unless
``$MIDSTREAM_STACK_DIR`` (or an explicit argument) says otherwise. The file is
plain JSON, so shell scripts can read it too::

    jq -r .brokers .stack/state.json

Examples
--------
>>> import tempfile
>>> from midstream.stack.kafka import KafkaBroker
>>> broker = KafkaBroker(pid=1, port=19092, controller_port=19093, cluster_id="x",
...                      work_dir=Path("/tmp/k"))
>>> state = StackState(kafka=broker, prometheus=None, started_at=0.0)
>>> with tempfile.TemporaryDirectory() as d:
...     _ = write_state(state, d)
...     read_state(d) == state
True
>>> state.brokers, state.prometheus_url
('127.0.0.1:19092', None)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midstream.stack.exceptions import StackError
from midstream.stack.kafka import KafkaBroker
from midstream.stack.paths import resolve_state_dir
from midstream.stack.prometheus import PrometheusServer

STATE_FILE = "state.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class StackState:
    """The services of one ``up``: a Kafka broker and, optionally, Prometheus.

    Attributes
    ----------
    kafka
        The broker.
    prometheus
        The Prometheus server, or ``None`` after ``up --no-prometheus``.
    started_at
        Unix time at which the stack became ready.
    """

    kafka: KafkaBroker
    prometheus: PrometheusServer | None
    started_at: float

    @property
    def brokers(self) -> str:
        """Bootstrap servers string, e.g. ``"127.0.0.1:19092"``."""
        return self.kafka.brokers

    @property
    def prometheus_url(self) -> str | None:
        """Prometheus base URL, or ``None`` when it was not started."""
        return None if self.prometheus is None else self.prometheus.url

    def is_running(self) -> bool:
        """Tell whether every recorded service process is still alive."""
        return self.kafka.is_running() and (self.prometheus is None or self.prometheus.is_running())

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form written to ``state.json``."""
        prometheus = self.prometheus
        return {
            "version": STATE_VERSION,
            "started_at": self.started_at,
            "brokers": self.brokers,
            "prometheus_url": self.prometheus_url,
            "kafka": {
                "pid": self.kafka.pid,
                "port": self.kafka.port,
                "controller_port": self.kafka.controller_port,
                "cluster_id": self.kafka.cluster_id,
                "work_dir": str(self.kafka.work_dir),
                "log": str(self.kafka.log_path),
            },
            "prometheus": None
            if prometheus is None
            else {
                "pid": prometheus.pid,
                "port": prometheus.port,
                "targets": list(prometheus.targets),
                "work_dir": str(prometheus.work_dir),
                "log": str(prometheus.log_path),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        """Rebuild a state from :meth:`to_json` output.

        Raises
        ------
        KeyError, TypeError, ValueError
            If ``data`` is not a version-1 state.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        k = data["kafka"]
        kafka = KafkaBroker(
            pid=int(k["pid"]),
            port=int(k["port"]),
            controller_port=int(k["controller_port"]),
            cluster_id=str(k["cluster_id"]),
            work_dir=Path(k["work_dir"]),
        )
        p = data.get("prometheus")
        prometheus = (
            None
            if p is None
            else PrometheusServer(
                pid=int(p["pid"]),
                port=int(p["port"]),
                targets=tuple(str(t) for t in p["targets"]),
                work_dir=Path(p["work_dir"]),
            )
        )
        return cls(kafka=kafka, prometheus=prometheus, started_at=float(data["started_at"]))


def state_path(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of ``state.json`` in the (resolved) state directory."""
    return resolve_state_dir(state_dir) / STATE_FILE


def read_state(state_dir: str | os.PathLike[str] | None = None) -> StackState | None:
    """Return the recorded stack, or ``None`` if no stack is recorded.

    The processes may have died since; check :meth:`StackState.is_running`.
    Tests use this to reuse a stack started with ``midstream stack up``.

    Raises
    ------
    StackError
        If ``state.json`` exists but cannot be understood.
    """
    path = state_path(state_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc}") from exc
    try:
        return StackState.from_json(json.loads(text))
    except (KeyError, TypeError, ValueError) as exc:
        raise StackError(
            f"{path} is damaged ({exc!r}); stop any leftover java/prometheus processes "
            "by PID and delete the file."
        ) from exc


def write_state(state: StackState, state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``state.json`` atomically and return its path."""
    path = state_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    partial.replace(path)
    return path


def remove_state(state_dir: str | os.PathLike[str] | None = None) -> None:
    """Delete ``state.json`` if present."""
    state_path(state_dir).unlink(missing_ok=True)

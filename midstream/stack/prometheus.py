"""Run a local Prometheus server that scrapes MidStream, and query it.

Debian's ``/usr/bin/prometheus`` runs directly on a configuration generated
from ``deploy/prometheus/prometheus.yml``, with its TSDB in a fresh temporary
directory and its web UI and API on ``127.0.0.1`` only.

Examples
--------
>>> config = render_config(["127.0.0.1:3030"], scrape_interval="2s")
>>> "scrape_interval: 2s" in config, '- targets: ["127.0.0.1:3030"]' in config
(True, True)

Against a running server (not run here)::

    server = start_prometheus(port=0)
    query_until(server.url, "up")     # the first scrape lands ~5 s after start
    stop_prometheus(server)
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template
from typing import Any

from midstream.stack.exceptions import StackError
from midstream.stack.paths import HOST, deploy_dir
from midstream.stack.process import (
    ensure_port_free,
    exit_description,
    free_port,
    is_alive,
    spawn,
    tail,
    terminate,
)
from midstream.stack.workdir import make_work_dir, remove_work_dir

DEFAULT_PORT = 19090
"""Web UI and API port on ``127.0.0.1``."""

DEFAULT_TARGETS: tuple[str, ...] = ("127.0.0.1:3030", "127.0.0.1:9464")
"""The Bytewax dataflow API's ``/metrics`` and the demo's metrics endpoint."""

_TARGET = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")
_INTERVAL = re.compile(r"^\d+(ms|s|m|h)$")


@dataclass(frozen=True)
class PrometheusServer:
    """A Prometheus process started by :func:`launch_prometheus`.

    Attributes
    ----------
    pid
        Process id (also its process-group id).
    port
        Web UI and API port on ``127.0.0.1``.
    targets
        The ``host:port`` endpoints it scrapes.
    work_dir
        Private directory holding ``prometheus.yml``, ``prometheus.log`` and
        the TSDB in ``data/``. Removed by :func:`stop_prometheus`.
    """

    pid: int
    port: int
    targets: tuple[str, ...]
    work_dir: Path

    @property
    def url(self) -> str:
        """Base URL, ``"http://127.0.0.1:<port>"``."""
        return f"http://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The generated configuration file."""
        return self.work_dir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        """The server's log (stdout and stderr)."""
        return self.work_dir / "prometheus.log"

    def is_running(self) -> bool:
        """Tell whether the server process is still alive (and still this server)."""
        return is_alive(self.pid, marker=str(self.work_dir))


def render_config(
    targets: Sequence[str] = DEFAULT_TARGETS,
    *,
    scrape_interval: str = "1s",
    template: Path | None = None,
) -> str:
    """Return a Prometheus configuration scraping ``targets`` every ``scrape_interval``.

    Parameters
    ----------
    targets
        ``host:port`` endpoints serving ``/metrics``.
    scrape_interval
        A Prometheus duration such as ``"1s"``.
    template
        The template file; ``deploy/prometheus/prometheus.yml`` when ``None``.

    Raises
    ------
    StackError
        If a target is not ``host:port`` or the interval is not a duration.

    Examples
    --------
    >>> render_config(["not a target"])
    Traceback (most recent call last):
    ...
    midstream.stack.exceptions.StackError: scrape target must be host:port, got 'not a target'
    """
    for target in targets:
        if not _TARGET.match(target):
            raise StackError(f"scrape target must be host:port, got {target!r}")
    if not _INTERVAL.match(scrape_interval):
        raise StackError(f"scrape interval must be a duration like 1s, got {scrape_interval!r}")
    path = template if template is not None else deploy_dir() / "prometheus" / "prometheus.yml"
    try:
        text = path.read_text()
    except OSError as exc:
        raise StackError(f"cannot read the Prometheus template {path}: {exc}") from exc
    # A JSON list of plain strings is also a valid YAML flow sequence.
    return Template(text).substitute(
        scrape_interval=scrape_interval, targets=json.dumps(list(targets))
    )


def find_prometheus() -> str:
    """Return the ``prometheus`` executable (``PATH``, then Debian's ``/usr/bin/prometheus``)."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        raise StackError(
            "prometheus not found: install Debian's package with deploy/setup.sh "
            "(apt-get install --no-install-recommends prometheus)."
        )
    return found


def launch_prometheus(
    port: int = DEFAULT_PORT,
    targets: Sequence[str] = DEFAULT_TARGETS,
    *,
    scrape_interval: str = "1s",
    work_dir: Path | None = None,
) -> PrometheusServer:
    """Write the configuration and start the server, without waiting for it.

    Parameters
    ----------
    port
        Web port on ``127.0.0.1``; ``0`` picks a free one.
    targets
        ``host:port`` endpoints to scrape.
    scrape_interval
        A Prometheus duration.
    work_dir
        Directory for configuration, log and TSDB; a new temporary directory
        when ``None``.

    Returns
    -------
    PrometheusServer
        The started server; call :func:`wait_for_prometheus` before querying.
    """
    binary = find_prometheus()
    config = render_config(targets, scrape_interval=scrape_interval)
    port = free_port() if port == 0 else port
    ensure_port_free(port, "Prometheus")
    work = make_work_dir(work_dir, "midstream-prometheus-")
    server = PrometheusServer(pid=0, port=port, targets=tuple(targets), work_dir=work)
    try:
        server.config_path.write_text(config)
        pid = spawn(
            [
                binary,
                f"--config.file={server.config_path}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address={HOST}:{port}",
                "--storage.tsdb.retention.time=1d",
            ],
            cwd=work,
            log_path=server.log_path,
        )
    except BaseException:
        remove_work_dir(work)
        raise
    return replace(server, pid=pid)


def wait_for_prometheus(server: PrometheusServer, *, timeout: float = 30.0) -> float:
    """Block until ``/-/ready`` answers 200.

    Returns
    -------
    float
        Seconds waited.

    Raises
    ------
    StackError
        If the process exits or ``timeout`` passes; the message ends with the
        tail of the server log.
    """
    start = time.monotonic()
    while True:
        if not server.is_running():
            raise StackError(
                f"Prometheus exited during startup ({exit_description(server.pid)}). "
                f"Last lines of {server.log_path}:\n{tail(server.log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1.0) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise StackError(
                f"Prometheus did not become ready on {server.url} within {timeout:.0f} s. "
                f"Last lines of {server.log_path}:\n{tail(server.log_path)}"
            )
        time.sleep(0.1)


def stop_prometheus(
    server: PrometheusServer, *, timeout: float = 30.0, keep_files: bool = False
) -> None:
    """Stop the server (SIGTERM, then SIGKILL after ``timeout``) and delete its directory."""
    terminate(server.pid, marker=str(server.work_dir), timeout=timeout)
    if not keep_files:
        remove_work_dir(server.work_dir)


def start_prometheus(
    port: int = DEFAULT_PORT,
    targets: Sequence[str] = DEFAULT_TARGETS,
    *,
    scrape_interval: str = "1s",
    work_dir: Path | None = None,
    timeout: float = 30.0,
) -> PrometheusServer:
    """Start a server and wait until it is ready; see :func:`launch_prometheus`.

    If it does not become ready, the process is stopped and its directory
    removed before the :class:`StackError` propagates.
    """
    server = launch_prometheus(port, targets, scrape_interval=scrape_interval, work_dir=work_dir)
    try:
        wait_for_prometheus(server, timeout=timeout)
    except BaseException:
        stop_prometheus(server, timeout=5.0)
        raise
    return server


def query(url: str, promql: str, *, timeout: float = 5.0) -> list[Any]:
    """Run an instant query and return ``data.result``.

    Parameters
    ----------
    url
        Base URL of the server, e.g. ``"http://127.0.0.1:19090"``.
    promql
        The PromQL expression.
    timeout
        HTTP timeout in seconds.

    Returns
    -------
    list
        For a vector, one ``{"metric": {...}, "value": [ts, "str"]}`` dict per
        series (possibly none); for a scalar or string, ``[ts, "str"]``.

    Raises
    ------
    StackError
        If the server cannot be reached or rejects the query.
    """
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            detail = json.load(exc).get("error", exc.reason)
        except (ValueError, OSError):
            detail = exc.reason
        raise StackError(f"Prometheus rejected {promql!r}: {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StackError(f"cannot query Prometheus at {url}: {exc}") from exc
    if body.get("status") != "success":
        raise StackError(f"Prometheus query {promql!r} failed: {body.get('error', body)}")
    result: list[Any] = body["data"]["result"]
    return result


def query_until(
    url: str, promql: str, *, timeout: float = 30.0, interval: float = 0.5
) -> list[Any]:
    """Repeat :func:`query` until it returns a non-empty result.

    Useful right after start: the first scrape lands about 5 s after the
    server is ready, even with a 1 s interval.

    Raises
    ------
    StackError
        If the result is still empty after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = query(url, promql)
        if result:
            return result
        if time.monotonic() > deadline:
            raise StackError(f"Prometheus at {url} had no result for {promql!r} after {timeout} s")
        time.sleep(interval)

"""Run a private nginx with the RTMP module, for publishing test streams and serving their HLS.

Debian's ``/usr/sbin/nginx`` runs in the foreground (``daemon off``) on a
configuration generated into a fresh temporary directory, which also holds its
pid file, logs and the HLS fragments. RTMP and HTTP both listen on
``127.0.0.1`` only. Publish with ffmpeg to :attr:`NginxRtmpServer.rtmp_url`
``+ "/<name>"``; the same stream is readable as RTMP there and as HLS at
:meth:`NginxRtmpServer.hls_url`.

nginx-rtmp leaves the playlist of an ended stream on disk, so a reader of a
reused name may first see a stale playlist: use a fresh stream name each time.

Examples
--------
>>> config = render_config(Path("/tmp/w"), rtmp_port=1935, http_port=8080)
>>> "listen 127.0.0.1:1935;" in config, "hls_path /tmp/w/hls;" in config
(True, True)

Against a running server (not run here)::

    server = start_nginx_rtmp()
    # ffmpeg ... -f flv {server.rtmp_url}/cam1; read {server.hls_url("cam1")}
    stop_nginx_rtmp(server)
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from midstream.stack.exceptions import StackError
from midstream.stack.paths import HOST
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

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
"""Where Debian's ``libnginx-mod-rtmp`` installs the module."""

APPLICATION = "live"
"""The RTMP application name: streams are ``rtmp://host:port/live/<name>``."""


@dataclass(frozen=True)
class NginxRtmpServer:
    """An nginx process started by :func:`launch_nginx_rtmp`.

    Attributes
    ----------
    pid
        Process id of the nginx master (also its process-group id).
    rtmp_port
        RTMP port on ``127.0.0.1``.
    http_port
        HTTP port on ``127.0.0.1`` serving ``/hls/<name>.m3u8``.
    work_dir
        Private directory with ``nginx.conf``, ``nginx.pid``, the logs and
        ``hls/``. Removed by :func:`stop_nginx_rtmp`.
    """

    pid: int
    rtmp_port: int
    http_port: int
    work_dir: Path

    @property
    def rtmp_url(self) -> str:
        """Application URL, ``"rtmp://127.0.0.1:<port>/live"``; append ``/<name>``."""
        return f"rtmp://{HOST}:{self.rtmp_port}/{APPLICATION}"

    def stream_url(self, name: str) -> str:
        """RTMP URL of stream ``name`` (to publish to and to play from)."""
        return f"{self.rtmp_url}/{name}"

    def hls_url(self, name: str) -> str:
        """HLS playlist URL of stream ``name``, ``"http://127.0.0.1:<port>/hls/<name>.m3u8"``."""
        return f"http://{HOST}:{self.http_port}/hls/{name}.m3u8"

    @property
    def hls_dir(self) -> Path:
        """Where nginx-rtmp writes playlists and fragments."""
        return self.work_dir / "hls"

    @property
    def config_path(self) -> Path:
        """The generated configuration file."""
        return self.work_dir / "nginx.conf"

    @property
    def log_path(self) -> Path:
        """nginx's error log (stdout and stderr go to the same file)."""
        return self.work_dir / "error.log"

    def is_running(self) -> bool:
        """Tell whether the nginx master is still alive (and still this server)."""
        return is_alive(self.pid, marker=str(self.work_dir))


def render_config(work_dir: Path, *, rtmp_port: int, http_port: int) -> str:
    """Return an nginx configuration with one live RTMP application writing HLS.

    Parameters
    ----------
    work_dir
        Directory for the pid file, logs, temporary files and ``hls/``.
    rtmp_port, http_port
        Ports on ``127.0.0.1``.

    Examples
    --------
    >>> config = render_config(Path("/tmp/w"), rtmp_port=1, http_port=2)
    >>> "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;" in config
    True
    """
    work = str(work_dir)
    # Started as root, nginx would run its worker as "nobody", which can neither
    # write the HLS fragments nor read them back from our private 0700 directory.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return f"""\
load_module {RTMP_MODULE};
{user}daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 256; }}

rtmp {{
    server {{
        listen {HOST}:{rtmp_port};
        chunk_size 4096;
        application {APPLICATION} {{
            live on;
            record off;
            hls on;
            hls_path {work}/hls;
            hls_fragment 1s;
            hls_playlist_length 6s;
        }}
    }}
}}

http {{
    access_log off;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }}
    server {{
        listen {HOST}:{http_port};
        location /hls/ {{
            alias {work}/hls/;
            add_header Cache-Control no-cache;
        }}
    }}
}}
"""


def find_nginx() -> str:
    """Return the ``nginx`` executable, after checking that the RTMP module is installed."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise StackError(
            "nginx not found: install Debian's packages with deploy/setup.sh "
            "(apt-get install --no-install-recommends nginx libnginx-mod-rtmp)."
        )
    if not RTMP_MODULE.exists():
        raise StackError(
            f"the nginx RTMP module is missing ({RTMP_MODULE}): "
            "apt-get install --no-install-recommends libnginx-mod-rtmp."
        )
    return found


def launch_nginx_rtmp(
    rtmp_port: int = 0, http_port: int = 0, *, work_dir: Path | None = None
) -> NginxRtmpServer:
    """Write the configuration and start nginx, without waiting for it.

    Parameters
    ----------
    rtmp_port, http_port
        Ports on ``127.0.0.1``; ``0`` picks a free one.
    work_dir
        Directory for configuration, logs and HLS; a new temporary directory
        when ``None``.
    """
    binary = find_nginx()
    rtmp_port = free_port() if rtmp_port == 0 else rtmp_port
    http_port = free_port() if http_port == 0 else http_port
    ensure_port_free(rtmp_port, "nginx RTMP")
    ensure_port_free(http_port, "nginx HTTP")
    work = make_work_dir(work_dir, "midstream-nginx-rtmp-")
    server = NginxRtmpServer(pid=0, rtmp_port=rtmp_port, http_port=http_port, work_dir=work)
    try:
        (work / "hls").mkdir(exist_ok=True)
        (work / "tmp").mkdir(exist_ok=True)
        server.config_path.write_text(
            render_config(work, rtmp_port=rtmp_port, http_port=http_port)
        )
        # -p sets the prefix so nothing is read from or written to /etc/nginx or /var/log;
        # -e (nginx >= 1.19.5) moves the startup error log there too.
        pid = spawn(
            [binary, "-p", f"{work}/", "-e", str(server.log_path), "-c", str(server.config_path)],
            cwd=work,
            log_path=work / "stdout.log",
        )
    except BaseException:
        remove_work_dir(work)
        raise
    return replace(server, pid=pid)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_nginx_rtmp(server: NginxRtmpServer, *, timeout: float = 15.0) -> float:
    """Block until the RTMP port accepts connections and the HTTP port answers.

    Returns
    -------
    float
        Seconds waited.

    Raises
    ------
    StackError
        If nginx exits or ``timeout`` passes; the message ends with the log tail.
    """
    start = time.monotonic()
    while True:
        if not server.is_running():
            raise StackError(
                f"nginx exited during startup ({exit_description(server.pid)}). "
                f"Last lines of {server.log_path}:\n{tail(server.log_path)}\n"
                f"{tail(server.work_dir / 'stdout.log')}"
            )
        if _listening(server.rtmp_port) and _http_answers(server):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise StackError(
                f"nginx did not listen on {HOST}:{server.rtmp_port} and :{server.http_port} "
                f"within {timeout:.0f} s. Last lines of {server.log_path}:\n"
                f"{tail(server.log_path)}"
            )
        time.sleep(0.05)


def _http_answers(server: NginxRtmpServer) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{server.http_port}/", timeout=0.5):
            return True
    except urllib.error.HTTPError:
        return True  # 404 for "/" is an answer: the server is up.
    except (urllib.error.URLError, OSError):
        return False


def stop_nginx_rtmp(
    server: NginxRtmpServer, *, timeout: float = 10.0, keep_files: bool = False
) -> None:
    """Stop nginx (SIGTERM to the master, SIGKILL after ``timeout``) and delete its directory.

    The master stops its worker on SIGTERM ("fast shutdown"); the worker runs
    in the master's process group, which :func:`terminate` does not signal, so
    the wait covers both only through the master's own exit.
    """
    terminate(server.pid, marker=str(server.work_dir), timeout=timeout)
    if not keep_files:
        remove_work_dir(server.work_dir)


def start_nginx_rtmp(
    rtmp_port: int = 0,
    http_port: int = 0,
    *,
    work_dir: Path | None = None,
    timeout: float = 15.0,
) -> NginxRtmpServer:
    """Start nginx with the RTMP module and wait until it listens; see :func:`launch_nginx_rtmp`.

    If it does not become ready, the process is stopped and its directory
    removed before the :class:`StackError` propagates.
    """
    server = launch_nginx_rtmp(rtmp_port, http_port, work_dir=work_dir)
    try:
        wait_for_nginx_rtmp(server, timeout=timeout)
    except BaseException:
        stop_nginx_rtmp(server, timeout=5.0)
        raise
    return server

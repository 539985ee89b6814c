"""Start, watch and stop the detached service processes of the local stack, by PID.

Services run in their own session (``start_new_session=True``), so a Ctrl-C in
the terminal that ran ``midstream stack up`` does not reach them and they
outlive it. Every check on a recorded PID also compares the process's command
line with a marker (the service's private data directory), so a PID that the
kernel has since reused for another program is never signalled.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from midstream.stack.exceptions import StackError
from midstream.stack.paths import HOST

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this interpreter started, so that exited ones get reaped, not left as zombies."""
_exited: dict[int, subprocess.Popen[bytes]] = {}


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, service: str, host: str = HOST) -> None:
    """Raise :class:`StackError` if ``host:port`` is already taken.

    A readiness probe would otherwise talk to whatever already listens there
    (often a stale broker) and report success.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do (Java and Go set it too): connections in TIME_WAIT from a
        # previous run must not count as "in use", only a live listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError as exc:
            raise StackError(
                f"{service}: port {host}:{port} is already in use ({exc.strerror}). "
                "Stop whatever listens there, or choose another port (0 picks a free one)."
            ) from exc


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start ``argv`` detached, with stdout and stderr appended to ``log_path``.

    Returns
    -------
    int
        The PID. Because the process leads a new session, it is also its
        process-group id.
    """
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"could not run {argv[0]}: {exc}") from exc
    _children[proc.pid] = proc
    return proc.pid


def exit_description(pid: int) -> str:
    """Describe how a process started by :func:`spawn` ended, for error messages.

    Examples
    --------
    >>> exit_description(-1)
    'exit status unknown'
    """
    child = _children.get(pid) or _exited.get(pid)
    code = None if child is None else child.poll()
    if code is None:
        return "exit status unknown"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _cmdline(pid: int) -> str | None:
    """Return the command line of ``pid`` joined by spaces, ``None`` if unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def is_alive(pid: int, marker: str | None = None) -> bool:
    """Tell whether ``pid`` runs and, if ``marker`` is given, is the expected process.

    Parameters
    ----------
    pid
        The process id.
    marker
        A string that the process's command line must contain. Checked where
        ``/proc`` exists (Linux); elsewhere only the PID is checked.

    Examples
    --------
    >>> is_alive(os.getpid())
    True
    >>> is_alive(os.getpid(), marker="certainly-not-in-this-command-line-4b1d")
    False
    """
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _exited[pid] = _children.pop(pid)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # It exists but belongs to someone else; the marker decides.
    if _is_zombie(pid):
        return False
    if marker is None or not Path("/proc/self/cmdline").exists():
        return True
    cmdline = _cmdline(pid)
    # Mid-exec (right after spawn) the kernel shows an empty command line for a
    # moment; kernel threads always do. Give a new process time to settle.
    for _ in range(100):
        if cmdline != "":
            break
        time.sleep(0.01)
        cmdline = _cmdline(pid)
    return cmdline is not None and marker in cmdline


def terminate(pid: int, marker: str | None = None, *, timeout: float = 30.0) -> bool:
    """Stop ``pid`` with SIGTERM, then SIGKILL if it is still running after ``timeout``.

    Parameters
    ----------
    pid
        The process id.
    marker
        Passed to :func:`is_alive`: a process whose command line lacks it is
        left alone.
    timeout
        Seconds to wait for a clean exit before SIGKILL.

    Returns
    -------
    bool
        ``True`` if the process had to be killed with SIGKILL.
    """
    if not is_alive(pid, marker):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if _wait_gone(pid, marker, timeout):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    if not _wait_gone(pid, marker, 10.0):
        raise StackError(f"process {pid} survived SIGKILL")
    return True


def _wait_gone(pid: int, marker: str | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid, marker):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a log file, or a note if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return f"(no log at {path})"
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])

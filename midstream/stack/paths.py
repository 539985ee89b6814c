"""Where the local stack finds its files: the repository, ``deploy/`` and the state directory."""

from __future__ import annotations

import os
from pathlib import Path

HOST = "127.0.0.1"
"""Every local service binds and advertises this address, never a public one."""

STATE_DIR_ENV = "MIDSTREAM_STACK_DIR"
"""Environment variable that overrides the default state directory."""


def repo_root() -> Path:
    """Return the repository root (the directory holding ``deploy/``).

    The stack runs from a source checkout (an editable install), because the
    Kafka jars and the Prometheus template live under ``deploy/``.
    """
    return Path(__file__).resolve().parents[2]


def deploy_dir() -> Path:
    """Return ``<repo>/deploy``."""
    return repo_root() / "deploy"


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the stack state directory.

    Parameters
    ----------
    state_dir
        An explicit directory. When ``None``, ``$MIDSTREAM_STACK_DIR`` is used
        if set, else ``<repo>/.stack``.

    Examples
    --------
    >>> resolve_state_dir("/tmp/somewhere")
    PosixPath('/tmp/somewhere')
    >>> resolve_state_dir().name in {".stack", Path(os.environ.get(STATE_DIR_ENV, ".")).name}
    True
    """
    if state_dir is not None:
        return Path(state_dir)
    from_env = os.environ.get(STATE_DIR_ENV)
    if from_env:
        return Path(from_env)
    return repo_root() / ".stack"

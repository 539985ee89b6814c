"""Private, disposable directories for service data, and their safe removal."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

WORK_DIR_MARKER = ".midstream-stack"
"""File that marks a directory as created by the stack, and so safe to delete."""


def make_work_dir(work_dir: Path | None, prefix: str) -> Path:
    """Create (or adopt) a service directory and mark it as the stack's.

    Parameters
    ----------
    work_dir
        Directory to use; a new temporary directory named ``<prefix>XXXX``
        when ``None``.
    prefix
        Name prefix for a temporary directory.

    Examples
    --------
    >>> work = make_work_dir(None, "midstream-doctest-")
    >>> (work / WORK_DIR_MARKER).is_file()
    True
    >>> remove_work_dir(work); work.exists()
    False
    """
    if work_dir is None:
        work = Path(tempfile.mkdtemp(prefix=prefix))
    else:
        work = Path(work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    (work / WORK_DIR_MARKER).write_text("created by midstream.stack; safe to delete\n")
    return work


def remove_work_dir(work_dir: Path) -> None:
    """Delete a directory created by :func:`make_work_dir`, and nothing else.

    Directories without the :data:`WORK_DIR_MARKER` file are left alone, so a
    damaged state file can never point the cleanup at unrelated data.
    """
    if (work_dir / WORK_DIR_MARKER).is_file():
        shutil.rmtree(work_dir, ignore_errors=True)

"""The `midstream` command hands each connector subcommand its own arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("command", "expected"), [
    ("gateway", "--upstream"), ("realtime", "--upstream"), ("demo", "--shapes")])
def test_subcommand_help(command: str, expected: str) -> None:
    result = subprocess.run([sys.executable, "-m", "midstream.cli.main", command, "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_top_level_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "midstream.cli.main", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    for command in ("demo", "stack", "topics", "run", "gateway", "realtime"):
        assert f"  {command}" in result.stdout

"""Imports point one way, and nothing imports the bare folder names.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are
checked by import-linter. The negative tests copy the package, break one rule
in the copy and check that the contracts catch it, so these tests can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the project's contracts on the tree at ``root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_import_contract() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package sources (links resolved into real folders) and the contracts."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO / "midstream", root / "midstream", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "data", "static"))
    return root


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n" + line + "\n")


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("core/config.py", "from midstream.flows import routing", "Layers point one way"),
    ("connectors/kafka/sink.py", "import midstream.cli.main", "Layers point one way"),
    ("operators/dtw.py", "import bytewax.operators", "Operators are pure"),
    ("flows/routing.py", "import midstream.connectors.webrtc", "only through Kafka"),
    ("core/events.py", "import operators.dtw", "No generic top-level names"),
])
def test_a_broken_rule_is_caught(copy: Path, module: str, line: str, contract: str) -> None:
    _append(copy / "midstream" / module, line)
    done = lint_imports(copy)
    assert done.returncode != 0
    broken = done.stdout[done.stdout.index("Broken contracts"):]
    assert contract in broken

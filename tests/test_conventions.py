"""Conventions that hold across the package: logging, ``__all__``, ``py.typed``, metrics in one place."""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path

import midstream

PACKAGE = Path(midstream.__file__).parent


def _files(name_suffix: str) -> list[Path]:
    # os.walk with followlinks: operators/, flows/, ... are linked into the package.
    found = [Path(folder, name) for folder, _, names in os.walk(PACKAGE, followlinks=True)
             for name in names if name.endswith(name_suffix)]
    return sorted(p for p in found
                  if "__pycache__" not in p.parts and "stack" not in p.relative_to(PACKAGE).parts)


def _modules() -> list[Path]:
    modules = _files(".py")
    assert len(modules) > 100
    return modules


def _calls(tree: ast.AST, dotted: str) -> list[ast.Call]:
    owner, name = dotted.split(".")
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == name
            and isinstance(node.func.value, ast.Name) and node.func.value.id == owner]


def test_the_package_logger_has_only_a_null_handler() -> None:
    handlers = logging.getLogger("midstream").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


def test_loggers_are_named_after_their_modules_and_only_entry_points_configure_logging() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text())
        entry_point = path.name == "__main__.py" or path.parent.name == "cli" or path.name == "cli.py"
        for call in _calls(tree, "logging.getLogger"):
            arg = call.args[0] if call.args else None
            by_name = isinstance(arg, ast.Name) and arg.id == "__name__"
            assert by_name or entry_point, f"{path}: getLogger needs __name__"
        if not entry_point:
            assert not _calls(tree, "logging.basicConfig"), f"{path} configures logging"
        assert "addHandler(" not in path.read_text() or path == PACKAGE / "__init__.py", path


def test_every_package_declares_all_and_the_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    missing = [str(p) for p in _files("__init__.py") if "__all__" not in p.read_text()]
    assert missing == []


def test_prometheus_metrics_are_defined_only_in_the_core_metrics_module() -> None:
    kinds = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
    for path in _modules():
        if path.relative_to(PACKAGE).as_posix() in {"core/metrics.py", "core/fast_histogram.py"}:
            continue
        tree = ast.parse(path.read_text())
        imported = {alias.asname or alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
                    for alias in node.names}
        built = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id in imported & kinds}
        assert not built, f"{path} defines metrics: {sorted(built)}"

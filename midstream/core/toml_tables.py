r"""Reading TOML files that hold one array of tables (``[[rule]]``, ``[[shape]]``).

Both config files MidStream reads have this shape; this module gives them the
same TOML parsing, the same errors, and the file's path in every error message.

Examples
--------
>>> array_of_tables('[[shape]]\nname = "a"\n', "shape", ValueError)
[{'name': 'a'}]
>>> array_of_tables('shape = 1', "shape", ValueError)
Traceback (most recent call last):
ValueError: expected an array of [[shape]] tables
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def array_of_tables(text: str, name: str, error: type[ValueError]) -> list[dict[str, Any]]:
    """Return the ``[[name]]`` tables of a TOML text (none when absent); ``error`` on bad input."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML: {exc}") from exc
    except RecursionError:  # tomllib recurses on nested arrays and inline tables
        raise error("not valid TOML: nested too deeply") from None
    tables = document.get(name, [])
    if not isinstance(tables, list):
        raise error(f"expected an array of [[{name}]] tables")
    return tables


def load_file(path: str | Path, parse: Callable[[str], T], error: type[ValueError]) -> T:
    """Read ``path`` and ``parse`` it; an ``error`` from parsing gains the path as prefix."""
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except error as exc:
        raise error(f"{path}: {exc}") from exc

"""Loading event-shape templates (matched with SPRING over per-stream series) from TOML.

The format is documented in the README ("Shape templates"); the bundled default
is ``midstream/core/data/shapes.toml``. Each ``[[shape]]`` table names a series
(``itl`` for inter-token latency in milliseconds, ``logprob``), the query
shape, and the largest DTW distance that counts as a match, in the series'
units (the square root of the summed squared differences along the warping path).

Examples
--------
>>> shapes = parse_shapes('''
... [[shape]]
... name = "stall_then_burst"
... series = "itl"
... query = [30, 900, 2, 2, 30]
... threshold = 150
... ''')
>>> shapes[0].name, shapes[0].query, shapes[0].threshold
('stall_then_burst', (30.0, 900.0, 2.0, 2.0, 30.0), 150.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midstream.core.exceptions import ShapesFileError
from midstream.core.toml_tables import array_of_tables, load_file

SERIES = ("itl", "logprob")
"""The per-stream series a template can watch."""
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class ShapeTemplate:
    """A user-defined event shape, matched with SPRING over one series of every stream."""

    name: str
    series: str
    query: tuple[float, ...]
    threshold: float
    window: int | None = None
    """Sakoe–Chiba band of the warping, in samples; None lets the path warp freely."""
    znorm: bool = False
    """Compare shapes after z-normalisation (scale and offset free)."""
    severity: str = "info"



_KEYS = ("name", "series", "query", "threshold", "window", "znorm", "severity")


def _shape_from_table(index: int, table: dict[str, Any]) -> ShapeTemplate:
    where = f"shape #{index + 1}"
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ShapesFileError(f"{where}: unknown keys {unknown}; allowed: {list(_KEYS)}")
    for key in ("name", "series", "query", "threshold"):
        if key not in table:
            raise ShapesFileError(f"{where}: '{key}' is required")
    name = table["name"]
    if not isinstance(name, str) or not name:
        raise ShapesFileError(f"{where}: 'name' must be a non-empty string")
    if table["series"] not in SERIES:
        raise ShapesFileError(f"{where}: 'series' must be one of {list(SERIES)}")
    query = table["query"]
    if (not isinstance(query, list) or len(query) < 2
            or not all(isinstance(q, int | float) and math.isfinite(q) for q in query)):
        raise ShapesFileError(f"{where}: 'query' must be a list of at least 2 finite numbers")
    threshold = table["threshold"]
    if not isinstance(threshold, int | float) or not threshold > 0:
        raise ShapesFileError(f"{where}: 'threshold' must be a positive number")
    window = table.get("window")
    if window is not None and (not isinstance(window, int) or window < 0):
        raise ShapesFileError(f"{where}: 'window' must be a non-negative integer")
    znorm = table.get("znorm", False)
    if not isinstance(znorm, bool):
        raise ShapesFileError(f"{where}: 'znorm' must be true or false")
    severity = table.get("severity", "info")
    if severity not in SEVERITIES:
        raise ShapesFileError(f"{where}: 'severity' must be one of {list(SEVERITIES)}")
    return ShapeTemplate(name, table["series"], tuple(float(q) for q in query),
                         float(threshold), window, znorm, severity)


def parse_shapes(text: str) -> list[ShapeTemplate]:
    """Parse shape templates from TOML text: an array of ``[[shape]]`` tables."""
    tables = array_of_tables(text, "shape", ShapesFileError)
    shapes = [_shape_from_table(i, t) for i, t in enumerate(tables)]
    names = [s.name for s in shapes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ShapesFileError(f"shape names must be unique; repeated: {duplicates}")
    return shapes


def load_shapes(path: str | Path) -> list[ShapeTemplate]:
    """Read and parse a shapes file."""
    return load_file(path, parse_shapes, ShapesFileError)

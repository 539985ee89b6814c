"""What a flow's analysis hands to its Bytewax glue: records tagged with their output topic."""

from __future__ import annotations

from typing import Any, Literal

Output = tuple[Literal["insights", "control"], dict[str, Any]]
"""A record and the topic it goes to: ``("insights", insight)`` or ``("control", control)``."""

__all__ = ["Output"]

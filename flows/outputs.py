"""What a flow's analysis hands to its Bytewax glue: records tagged with their output topic."""

from __future__ import annotations

from typing import Literal

from midstream.core.contracts import ControlEvent, Insight

Output = tuple[Literal["insights", "control"], Insight | ControlEvent]
"""A record and the topic it goes to: ``("insights", insight)`` or ``("control", control)``."""

__all__ = ["Output"]

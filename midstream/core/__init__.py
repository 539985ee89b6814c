"""The bottom layer: event contracts, configuration, metrics, rules and shapes files, exceptions.

Everything else in MidStream may import the core; the core imports only
:mod:`midstream.operators` (and third-party libraries). New contracts,
settings and metric definitions go here.
"""

from __future__ import annotations

__all__: list[str] = []

"""Pure streaming algorithms: no I/O, no Bytewax, nothing else from the project.

Each module holds one algorithm as a small stateful class whose state pickles,
so Bytewax recovery can snapshot it, plus plain functions for batch use.
"""

from __future__ import annotations

# Import the modules themselves (midstream.operators.<module>); the package exports nothing.
__all__: list[str] = []

"""The learning agent's glue to the LLM flow: what it reads of a stream's analysis (issue 12)."""

from __future__ import annotations

# Import the modules themselves (midstream.flows.learning.<module>); the package exports nothing.
__all__: list[str] = []

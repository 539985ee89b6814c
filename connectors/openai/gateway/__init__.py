"""An OpenAI-compatible streaming gateway that taps every delta and acts on MidStream's decisions.

Apps switch by changing their OpenAI client's ``base_url``. See
:mod:`midstream.connectors.openai.gateway.app` (the server), :mod:`.streams` (one proxied
stream: tap, hold-back, stop), :mod:`.redaction` (the hold-back) and
:mod:`midstream.cli.gateway` (``midstream gateway``).
"""

from __future__ import annotations

# Import the modules themselves; the package exports nothing.
__all__: list[str] = []

"""``python -m midstream.connectors.openai.gateway``: the same as ``midstream gateway``."""

from __future__ import annotations

import sys

from midstream.connectors.openai.gateway.cli import main

sys.exit(main())

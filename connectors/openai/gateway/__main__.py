"""``python -m connectors.openai.gateway``: the same as ``midstream gateway``."""

from __future__ import annotations

import sys

from connectors.openai.gateway.cli import main

sys.exit(main())

"""Run ``python -m midstream.stack up|down|status`` (the same as ``midstream stack``)."""

from __future__ import annotations

import sys

from midstream.stack.command import run_stack_command

if __name__ == "__main__":
    raise SystemExit(run_stack_command(sys.argv[1:]))

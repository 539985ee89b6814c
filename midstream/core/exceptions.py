"""The root of every exception MidStream raises on purpose: catch ``MidStreamError`` to catch them all.

Each package adds a small ``exceptions.py`` of subclasses (the media
connectors' ``MediaError``, the gateway's ``GatewayError``, ...). Where an
error is also a kind of built-in error (a bad value, a failed start), the
subclass keeps that base too, so ``except ValueError`` goes on working.

Examples
--------
>>> from midstream.core.exceptions import MidStreamError
>>> from midstream.core.rules_file import RulesFileError
>>> issubclass(RulesFileError, MidStreamError), issubclass(RulesFileError, ValueError)
(True, True)
"""

from __future__ import annotations

__all__ = ["MidStreamError", "RulesFileError", "ShapesFileError"]


class MidStreamError(Exception):
    """Root of MidStream's own exceptions."""


class RulesFileError(MidStreamError, ValueError):
    """The rules file is not valid; the message says where and why."""


class ShapesFileError(MidStreamError, ValueError):
    """The shapes file is not valid; the message says where and why."""


class OutcomesFileError(MidStreamError, ValueError):
    """The outcome-to-reward map is not valid; the message says where and why."""

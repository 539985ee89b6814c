"""The one error the local service stack raises, with a message a person can act on."""

from __future__ import annotations

from midstream.core.exceptions import MidStreamError


class StackError(MidStreamError, RuntimeError):
    """A local service (Kafka, Prometheus) could not be started, reached or stopped.

    The message says what failed and what to do about it, and for a service that
    did not come up it ends with the tail of that service's log.
    """

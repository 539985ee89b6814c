"""What every proxied stream shares: settings, metrics, the hold-back, the tap and the follower."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer

from midstream.connectors.openai.control import ControlFollower
from midstream.connectors.openai.gateway.config import GatewayConfig
from midstream.core.metrics import GatewayMetrics
from midstream.operators.holdback import HoldBack

if TYPE_CHECKING:
    from midstream.connectors.openai.gateway.streams import LiveStream

STREAM_ID_HEADER = "x-midstream-stream-id"
LATE_GRACE_SECONDS = 30.0
"""How long an ended stream's late decisions are still counted in the gateway's metric."""
STOP_FINISH_REASON = "content_filter"
"""The ``finish_reason`` of a stream MidStream stopped: OpenAI's value for "stopped by a policy"."""


@dataclass
class Services:
    """What every stream shares: settings, metrics, the tap and the control follower."""

    config: GatewayConfig
    metrics: GatewayMetrics
    holdback: HoldBack | None
    """The redaction hold-back; None when nothing is held (no redact rules, or no job to ask)."""
    producer: Producer | None
    follower: ControlFollower | None
    tokens_topic: str
    job: bool = False
    """Whether a MidStream job can send decisions (Kafka is configured); without one, fail
    closed redacts complete matches at once instead of waiting for the decision timeout."""
    live: dict[str, LiveStream] = field(default_factory=dict)
    """Streams being proxied, by stream id."""


def token_limit(body: dict[str, Any]) -> int | None:
    """Return the request's output-token limit, if it set one.

    >>> token_limit({"max_tokens": 50}), token_limit({"max_output_tokens": 9}), token_limit({})
    (50, 9, None)
    """
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

"""Simulated LLM answers whose bad outcomes have a known cause, for evaluating the outcome predictor.

Issue 12 ("Learning from outcomes") asks how well the online predictor learns
which streams end badly. On real traffic the answer is unknown; here it is
written down. Each simulated stream is a list of contract-v1
:class:`~midstream.core.events.TokenEvent` plus its ground truth.

Behaviours
----------
Each stream draws every behaviour independently, with the probability named in
:class:`SimulatorConfig` (a stream may have several, or none: healthy).

``slow_start``  the first token comes after ``slow_ttft_s`` seconds instead of about 0.35 s
                (visible at the first token).
``refusal``     the answer opens with :data:`~midstream.cli.sample_streams.REFUSAL_TEXT`,
                which the refusal and apology rules catch (visible early).
``apology``     the answer opens with :data:`APOLOGY_TEXT` (the apology rule; early).
``rambling``    the body is ``rambling_factor`` times longer (visible only as it goes on).
``late_stall``  one gap of ``stall_s`` seconds (over the 2 s stall threshold) in the last
                quarter of the stream (visible late).
``late_loop``   the answer ends in a repetition loop, :data:`LOOP_PREFIX` then
                ``loop_repeats`` copies of :data:`LOOP_SPAN`, which the loop detector
                stops (visible late).

The body is :func:`~midstream.cli.sample_streams.varied_text` (never a false loop),
split and timed by :func:`~midstream.cli.sample_streams.stream_events`.

Ground truth
------------
The true probability of a bad outcome is ``sigmoid(bias + sum of w[b] for the
stream's behaviours b)``, and ``bad ~ Bernoulli(p_bad)``. The weights are
``weights_before`` for streams ``0 .. drift_at - 1`` and ``weights_after`` from
``drift_at`` on (default: half the run), so different signals predict failure
after the drift. The label of stream ``i`` becomes known only when stream
``i + delay`` starts, ``delay ~ Geometric(1 / mean_feedback_delay)`` on 1, 2, ...
(``label_at = i + delay``). Streams follow each other without overlap, stream
``i`` starting at ``i * stream_spacing_s`` seconds.

Examples
--------
>>> config = SimulatorConfig(streams=40, seed=3)
>>> sims = list(simulate(config))
>>> len(sims), sims[0].events[0].kind, sims[0].events[-1].kind
(40, 'start', 'end')
>>> all(0.0 < s.p_bad < 1.0 and s.label_at > s.index for s in sims)
True
>>> [s.bad for s in sims] == [s.bad for s in simulate(config)]
True
>>> true_weights(config, 19) == config.weights_before, true_weights(config, 20) == config.weights_after
(True, True)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from midstream.cli.sample_streams import (
    LOOP_PREFIX,
    LOOP_SPAN,
    REFUSAL_TEXT,
    stream_events,
    tokenize,
    varied_text,
)
from midstream.core.events import TokenEvent

__all__ = ["APOLOGY_TEXT", "BEHAVIOURS", "LOOP_PREFIX", "LOOP_SPAN", "SimulatedStream",
           "SimulatorConfig", "simulate", "true_probability", "true_weights"]

BEHAVIOURS = ("slow_start", "refusal", "apology", "rambling", "late_stall", "late_loop")
"""Every behaviour a stream may have, in the order of :class:`SimulatorConfig`'s rates."""

APOLOGY_TEXT = "I apologize for the confusion in my earlier answer. "
"""Opening of an ``apology`` stream: the apology rule fires on it."""


def _weights(**w: float) -> dict[str, float]:
    return {"bias": w.pop("bias"), **{b: w.get(b, 0.0) for b in BEHAVIOURS}}


@dataclass(frozen=True)
class SimulatorConfig:
    """Every knob of the simulator; the defaults are the issue's evaluation setting.

    ``rate_<behaviour>`` is the probability that a stream has that behaviour.
    ``weights_before`` and ``weights_after`` map ``"bias"`` and each behaviour
    to its log-odds contribution to a bad outcome.
    """

    streams: int = 6000
    seed: int = 0
    drift_at: int | None = None
    """First stream under ``weights_after``; ``None`` is ``streams // 2``."""
    mean_feedback_delay: float = 50.0
    """Mean of the geometric feedback delay, in streams (>= 1)."""
    rate_slow_start: float = 0.15
    rate_refusal: float = 0.10
    rate_apology: float = 0.12
    rate_rambling: float = 0.15
    rate_late_stall: float = 0.15
    rate_late_loop: float = 0.10
    weights_before: Mapping[str, float] = field(default_factory=lambda: _weights(
        bias=-2.5, slow_start=1.5, refusal=2.5, apology=0.5, late_stall=1.5, late_loop=2.5))
    weights_after: Mapping[str, float] = field(default_factory=lambda: _weights(
        bias=-2.5, refusal=0.5, apology=2.0, rambling=2.0, late_stall=0.5, late_loop=2.5))
    body_words: tuple[int, int] = (40, 70)
    """Words of a body, drawn uniformly in this range."""
    rambling_factor: float = 2.5
    slow_ttft_s: float = 2.5
    stall_s: float = 3.5
    loop_repeats: tuple[int, int] = (4, 7)
    stream_spacing_s: float = 60.0
    model: str = "gpt-4o-mini"
    provider: str = "openai"

    def __post_init__(self) -> None:
        if self.streams < 0:
            raise ValueError(f"streams must be >= 0, got {self.streams}")
        if self.mean_feedback_delay < 1.0:
            raise ValueError(f"mean_feedback_delay must be >= 1, got {self.mean_feedback_delay}")
        for behaviour in BEHAVIOURS:
            rate = getattr(self, "rate_" + behaviour)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate_{behaviour} must be in [0, 1], got {rate}")
        for weights in (self.weights_before, self.weights_after):
            if set(weights) != {"bias", *BEHAVIOURS}:
                raise ValueError(f"weights need exactly the keys bias, {', '.join(BEHAVIOURS)}")

    @property
    def drift_index(self) -> int:
        """The first stream under ``weights_after``."""
        return self.streams // 2 if self.drift_at is None else self.drift_at


@dataclass(frozen=True)
class SimulatedStream:
    """One simulated answer and its ground truth."""

    index: int
    stream_id: str
    events: list[TokenEvent]
    behaviours: frozenset[str]
    p_bad: float
    """The true probability of a bad outcome."""
    bad: bool
    label_at: int
    """The label is known once stream ``label_at`` (> ``index``) has started."""


def true_weights(config: SimulatorConfig, index: int) -> Mapping[str, float]:
    """Return the weights that set the true probability of stream ``index``."""
    return config.weights_before if index < config.drift_index else config.weights_after


def true_probability(config: SimulatorConfig, index: int, behaviours: frozenset[str]) -> float:
    """``sigmoid(bias + sum of the weights of behaviours)`` under the weights of ``index``.

    >>> round(true_probability(SimulatorConfig(), 0, frozenset()), 4)
    0.0759
    """
    weights = true_weights(config, index)
    logit = weights["bias"] + sum(weights[b] for b in behaviours)
    return 1.0 / (1.0 + math.exp(-logit))


def simulate(config: SimulatorConfig) -> Iterator[SimulatedStream]:
    """Yield ``config.streams`` simulated streams, the same ones for the same config."""
    rng = random.Random(config.seed)
    for index in range(config.streams):
        behaviours = frozenset(b for b in BEHAVIOURS if rng.random() < getattr(config, "rate_" + b))
        p_bad = true_probability(config, index, behaviours)
        bad = rng.random() < p_bad
        delay = _geometric(rng, 1.0 / config.mean_feedback_delay)
        stream_id = f"sim-{config.seed}-{index}"
        events = _events(config, stream_id, index, behaviours, rng)
        yield SimulatedStream(index, stream_id, events, behaviours, p_bad, bad, index + delay)


def _geometric(rng: random.Random, p: float) -> int:
    """Draw from 1, 2, ... with success probability ``p`` (mean ``1 / p``)."""
    if p >= 1.0:
        return 1
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def _events(config: SimulatorConfig, stream_id: str, index: int, behaviours: frozenset[str],
            rng: random.Random) -> list[TokenEvent]:
    low, high = config.body_words
    words = rng.randint(low, high)
    if "rambling" in behaviours:
        words = int(words * config.rambling_factor)
    text = varied_text(words, rng)
    if "apology" in behaviours:
        text = APOLOGY_TEXT + text
    if "refusal" in behaviours:
        text = REFUSAL_TEXT + " " + text
    if "late_loop" in behaviours:
        text += " " + LOOP_PREFIX + LOOP_SPAN * rng.randint(*config.loop_repeats)
    pieces = len(tokenize(text))
    stall_after = None
    if "late_stall" in behaviours:
        stall_after = rng.randint(max(1, (3 * pieces) // 4), max(1, pieces - 2))
    dicts = stream_events(
        stream_id, text, t0=index * config.stream_spacing_s, rng=rng, model=config.model,
        provider=config.provider, ttft=config.slow_ttft_s if "slow_start" in behaviours else 0.35,
        stall_after=stall_after, stall_seconds=config.stall_s)
    return [TokenEvent(v=1, stream_id=d["stream_id"], seq=d["seq"], ts=d["ts"], kind=d["kind"],
                       text=d["text"], role=d["role"], model=d["model"], provider=d["provider"],
                       logprob=d.get("logprob"), meta=d.get("meta")) for d in dicts]


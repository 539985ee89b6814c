"""SquareCB: a contextual bandit that explores by inverse-gap weighting of a regression's predictions.

D. Foster & A. Rakhlin, "Beyond UCB: Optimal and Efficient Contextual Bandits with
Regression Oracles", ICML 2020. Any online regression that predicts each action's
reward is turned into a bandit: with ``K`` actions, predicted rewards ``yhat_a`` and
the greedy action ``b = argmax_a yhat_a``, play ``a`` with probability

    p(a) = 1 / (K + gamma * (yhat_b - yhat_a))     for a != b,
    p(b) = 1 - sum of the others,

so an action predicted a little worse than the best is tried often and one predicted
much worse rarely; ``gamma`` trades exploration for exploitation (``p(a) <= 1/K``
always, and every action keeps ``p(a) > 0``). Ties go to the lowest index.

Here the regression is one :class:`~midstream.operators.learning.ftrl.FTRLProximal`
per action: a logistic regression of the reward rescaled from ``reward_range`` to
``[0, 1]``, over hashed features (:mod:`~midstream.operators.learning.hashing`). The
gaps that ``gamma`` multiplies are in that rescaled unit; the scores reported are in
reward units. (An online least-squares regressor was not measured against it.)
Measured by ``python -m bench.action_policy``.

Sampling uses a seeded :class:`random.Random`, so decisions are reproducible, and its
state pickles with the models: a restored policy makes the same decisions. The
probabilities returned with every decision are the propensities that off-policy
evaluation (:mod:`~midstream.operators.learning.off_policy`) needs.

Examples
--------
>>> from midstream.operators.learning.hashing import hash_features
>>> policy = SquareCB(n_actions=2, bits=8, gamma=50.0, seed=1)
>>> x = hash_features({"late_loop": 1.0}, {}, bits=8)
>>> for _ in range(200):
...     decision = policy.choose(*x)
...     policy.learn(*x, decision.action, 1.0 if decision.action == 1 else 0.0)
>>> decision = policy.choose(*x)
>>> decision.action, decision.explored, round(float(decision.probabilities.sum()), 6)
(1, False, 1.0)
>>> bool(decision.probabilities[1] > 0.9 and decision.scores[1] > decision.scores[0])
True
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple

import numpy as np

from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import check_bits

__all__ = ["DEFAULT_GAMMA", "Decision", "SquareCB", "inverse_gap_weights"]

#: Exploration strength: an action predicted worse than the best by ``g`` (rescaled to
#: ``[0, 1]``) is played with probability ``1 / (K + 400 g)``. 400 did best of 100, 200, 400
#: and 800 on the benchmark (20,000 decisions, four actions, 3 seeds), the order of the
#: paper's ``sqrt(K T)`` (283 there). Set it for your horizon; it is fixed, not scheduled.
DEFAULT_GAMMA = 400.0
#: FTRL learning-rate scale of each action's model: 2.0 did best of 1, 2 and 4 with
#: gamma 400 on the benchmark's few dense features (FTRLProximal's 0.2 is for many sparse ones).
DEFAULT_ALPHA = 2.0


class Decision(NamedTuple):
    """One decision of :meth:`SquareCB.choose`.

    ``action`` is the action played, ``probabilities`` every action's probability (the
    propensities, summing to 1), ``scores`` every action's predicted reward (in reward
    units), ``greedy`` the action with the highest score and ``explored`` whether the
    action played is not the greedy one.
    """

    action: int
    probabilities: np.ndarray
    scores: np.ndarray
    greedy: int
    explored: bool

    @property
    def propensity(self) -> float:
        """The probability of the action played: log it with the reward."""
        return float(self.probabilities[self.action])


def inverse_gap_weights(predictions: np.ndarray, gamma: float) -> tuple[np.ndarray, int]:
    """Return the inverse-gap-weighting distribution over the actions, and the greedy action.

    ``predictions`` are the predicted rewards (higher is better), ``gamma >= 0``. Ties go to
    the lowest index; ``gamma = 0`` is uniform.

    Examples
    --------
    >>> p, best = inverse_gap_weights(np.array([0.5, 0.75, 0.25]), gamma=4.0)
    >>> best, p.tolist()
    (1, [0.25, 0.55, 0.2])
    """
    k = predictions.size
    best = int(np.argmax(predictions))
    p = 1.0 / (k + gamma * (predictions[best] - predictions))
    p[best] = 0.0
    p[best] = 1.0 - float(p.sum())
    return p, best


class SquareCB:
    """A contextual bandit by the SquareCB reduction, over per-action FTRL regressions.

    Parameters
    ----------
    n_actions
        Number of actions ``K`` (>= 2).
    bits
        Dimension ``2**bits`` of the hashed features (``1..24``); each action's model
        takes ``16 * 2**bits`` bytes, so keep it small when the features are few.
    gamma
        Exploration strength (finite, >= 0; 0 is uniform, larger is greedier), applied to
        gaps between predictions rescaled to ``[0, 1]``. See :data:`DEFAULT_GAMMA`.
    reward_range
        ``(low, high)``, ``low < high``: the rewards :meth:`learn` accepts; they are
        rescaled to ``[0, 1]`` for the logistic regressions.
    alpha
        Learning-rate scale of each :class:`~midstream.operators.learning.ftrl.FTRLProximal`.
    seed
        Seed of the sampler (an integer): the same seed and inputs give the same decisions.

    Notes
    -----
    ``choose`` and ``learn`` take the parallel arrays of
    :class:`~midstream.operators.learning.hashing.HashedFeatures`. Invalid input raises
    ``ValueError`` and leaves the policy unchanged. The policy pickles (models and
    sampler state) and a restored one continues identically.

    Examples
    --------
    >>> policy = SquareCB(n_actions=4, bits=6, seed=0)
    >>> policy
    SquareCB(n_actions=4, bits=6, gamma=400.0, reward_range=(-1.0, 1.0), alpha=2.0, seed=0)
    >>> d = policy.choose(np.array([0]), np.array([1.0]))   # knows nothing: uniform
    >>> d.probabilities.tolist(), d.greedy
    ([0.25, 0.25, 0.25, 0.25], 0)
    """

    def __init__(self, n_actions: int, bits: int = 12, *, gamma: float = DEFAULT_GAMMA,
                 reward_range: tuple[float, float] = (-1.0, 1.0), alpha: float = DEFAULT_ALPHA,
                 seed: int = 0) -> None:
        if not (isinstance(n_actions, int) and not isinstance(n_actions, bool) and n_actions >= 2):
            raise ValueError(f"n_actions must be an integer >= 2, got {n_actions!r}")
        check_bits(bits)
        if not (isinstance(gamma, int | float) and not isinstance(gamma, bool)
                and gamma >= 0 and math.isfinite(gamma)):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        try:
            low, high = (float(v) for v in reward_range)
        except (TypeError, ValueError):
            raise ValueError(f"reward_range must be a pair (low, high) of numbers, "
                             f"got {reward_range!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"reward_range must be finite with low < high, got {reward_range!r}")
        if not (isinstance(seed, int) and not isinstance(seed, bool)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.n_actions = n_actions
        self.bits = bits
        self.gamma = float(gamma)
        self.reward_range = (low, high)
        self.alpha = alpha
        self.seed = seed
        self._models = [FTRLProximal(bits, alpha=alpha) for _ in range(n_actions)]
        self._rng = random.Random(seed)
        self._decisions = 0
        self._explored = 0

    def __repr__(self) -> str:
        return (f"SquareCB(n_actions={self.n_actions}, bits={self.bits}, gamma={self.gamma}, "
                f"reward_range={self.reward_range}, alpha={self.alpha}, seed={self.seed})")

    def distribution(self, indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Return (probabilities, scores, greedy action) for a context, without drawing or learning.

        The probabilities are those :meth:`choose` would play with: use them as the target
        policy of an off-policy estimate.
        """
        predictions = np.array([m.predict_one(indices, values) for m in self._models])
        probabilities, best = inverse_gap_weights(predictions, self.gamma)
        low, high = self.reward_range
        return probabilities, low + (high - low) * predictions, best

    def choose(self, indices: np.ndarray, values: np.ndarray) -> Decision:
        """Draw an action for a context; the models are not changed, the sampler advances."""
        probabilities, scores, best = self.distribution(indices, values)
        u = self._rng.random()
        action = int(np.searchsorted(np.cumsum(probabilities), u, side="right"))
        action = min(action, self.n_actions - 1)                 # u beyond a rounded total
        if probabilities[action] == 0.0:                           # only by rounding at the edge
            action = best
        self._decisions += 1
        self._explored += action != best
        return Decision(action, probabilities, scores, best, action != best)

    def learn(self, indices: np.ndarray, values: np.ndarray, action: int, reward: float) -> None:
        """Teach ``action``'s model the reward observed after playing it in this context."""
        if not (isinstance(action, int | np.integer) and not isinstance(action, bool)
                and 0 <= action < self.n_actions):
            raise ValueError(f"action must be an integer in [0, {self.n_actions}), got {action!r}")
        low, high = self.reward_range
        if not (isinstance(reward, int | float | np.integer | np.floating) and not isinstance(reward, bool)
                and low <= reward <= high):
            raise ValueError(f"reward must be a number in [{low}, {high}] (reward_range), got {reward!r}")
        self._models[int(action)].learn_one(indices, values, (float(reward) - low) / (high - low))

    @property
    def decisions(self) -> int:
        """Decisions made by :meth:`choose` so far."""
        return self._decisions

    @property
    def explored(self) -> int:
        """Decisions that played an action other than the greedy one."""
        return self._explored

    @property
    def models(self) -> tuple[FTRLProximal, ...]:
        """The per-action regressions (the objects themselves, index = action)."""
        return tuple(self._models)

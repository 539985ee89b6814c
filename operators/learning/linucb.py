"""Disjoint LinUCB: a contextual bandit that picks an action by an upper confidence bound on a linear reward.

L. Li, W. Chu, J. Langford & R. E. Schapire, "A Contextual-Bandit Approach to
Personalized News Article Recommendation", WWW 2010, Algorithm 1. Each action
``a`` has its own ridge regression of the reward on the context ``x`` (dimension
``d``): ``A_a = ridge * I + sum x x^T`` and ``b_a = sum r x`` over the rounds it was
played, coefficients ``theta_a = A_a^-1 b_a``. The action chosen is the one with the
highest

    theta_a . x + alpha * sqrt(x^T A_a^-1 x),

the predicted reward plus ``alpha`` times its uncertainty: an action little tried in
contexts like ``x`` gets a wide bound and is explored. Ties go to the lowest index.

Only ``A_a^-1`` is kept, updated by the Sherman–Morrison formula

    (A + x x^T)^-1 = A^-1 - (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x),

so learning costs O(d^2) and choosing O(k d^2) for ``k`` actions; memory is
``8 k d (d + 1)`` bytes. The update keeps ``A^-1`` exactly symmetric, so a pickle
holds only its upper triangle.

Examples
--------
>>> import numpy as np
>>> bandit = LinUCB(n_actions=2, dimension=2, alpha=0.5)
>>> good_for_0, good_for_1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
>>> for _ in range(20):
...     bandit.learn(good_for_0, 0, 1.0); bandit.learn(good_for_0, 1, 0.0)
...     bandit.learn(good_for_1, 0, 0.0); bandit.learn(good_for_1, 1, 1.0)
>>> bandit.choose(good_for_0)[0], bandit.choose(good_for_1)[0]
(0, 1)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from midstream.operators.compact_state import PackedState, pack_arrays, unpack_arrays

__all__ = ["MAX_DIMENSION", "LinUCB"]

MAX_DIMENSION = 64
"""Largest context dimension: the model keeps a ``d x d`` matrix per action."""


class LinUCB:
    """Disjoint LinUCB with a fixed exploration width ``alpha``.

    Parameters
    ----------
    n_actions
        Number of actions (>= 1).
    dimension
        Length ``d`` of the dense context vector, ``1..MAX_DIMENSION``.
    alpha
        Width of the confidence bound (finite, >= 0; 0 is greedy). The paper's bound
        holds with probability ``1 - delta`` for ``alpha = 1 + sqrt(ln(2 / delta) / 2)``.
    ridge
        The ridge regulariser ``lambda`` (finite, > 0): each ``A_a`` starts as
        ``lambda * I``. 1 is the paper's choice.

    Notes
    -----
    Contexts are 1-D arrays of ``dimension`` finite numbers, actions integers in
    ``[0, n_actions)``, rewards finite numbers. Invalid input raises ``ValueError``
    and leaves the model unchanged. The state pickles compactly (the upper
    triangle of each ``A_a^-1``) and a restored model continues identically.

    Examples
    --------
    >>> import numpy as np
    >>> bandit = LinUCB(n_actions=3, dimension=2, alpha=1.0)
    >>> action, scores = bandit.choose(np.array([1.0, 0.0]))
    >>> action, scores.tolist()                     # all alike: the lowest index
    (0, [1.0, 1.0, 1.0])
    >>> bandit.learn(np.array([1.0, 0.0]), 0, 0.0)  # action 0 paid nothing
    >>> bandit.choose(np.array([1.0, 0.0]))[0]
    1
    """

    def __init__(self, n_actions: int, dimension: int, *, alpha: float = 1.0, ridge: float = 1.0) -> None:
        if not (isinstance(n_actions, int) and not isinstance(n_actions, bool) and n_actions >= 1):
            raise ValueError(f"n_actions must be an integer >= 1, got {n_actions!r}")
        if not (isinstance(dimension, int) and not isinstance(dimension, bool)
                and 1 <= dimension <= MAX_DIMENSION):
            raise ValueError(f"dimension must be an integer in 1..{MAX_DIMENSION}, got {dimension!r}")
        if not (isinstance(alpha, int | float) and not isinstance(alpha, bool)
                and alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if not (isinstance(ridge, int | float) and not isinstance(ridge, bool)
                and ridge > 0 and math.isfinite(ridge)):
            raise ValueError(f"ridge must be a finite number > 0, got {ridge!r}")
        self.n_actions = n_actions
        self.dimension = dimension
        self.alpha = alpha
        self.ridge = ridge
        self._a_inv = np.repeat(np.eye(dimension)[None, :, :] / ridge, n_actions, axis=0)
        self._b = np.zeros((n_actions, dimension))
        self._counts = np.zeros(n_actions, dtype=np.int64)

    def __repr__(self) -> str:
        return (f"LinUCB(n_actions={self.n_actions}, dimension={self.dimension}, "
                f"alpha={self.alpha}, ridge={self.ridge})")

    def __getstate__(self) -> PackedState:
        """Pickle compactly: the upper triangle of each ``A_a^-1``, which is exactly symmetric."""
        attributes = {k: v for k, v in self.__dict__.items() if k not in ("_a_inv", "_b", "_counts")}
        upper = np.triu_indices(self.dimension)
        attributes.update(_a_inv_upper=self._a_inv[:, upper[0], upper[1]].ravel(),
                          _b=self._b.ravel(), _counts=self._counts)
        return pack_arrays(attributes, ("_a_inv_upper", "_b", "_counts"))

    def __setstate__(self, state: PackedState | dict[str, Any]) -> None:
        attributes = unpack_arrays(state)
        k, d = attributes["n_actions"], attributes["dimension"]
        upper = np.triu_indices(d)
        packed = attributes.pop("_a_inv_upper").reshape(k, -1)
        a_inv = np.zeros((k, d, d))
        a_inv[:, upper[0], upper[1]] = packed
        a_inv[:, upper[1], upper[0]] = packed
        attributes["_a_inv"] = a_inv
        attributes["_b"] = attributes["_b"].reshape(k, d)
        self.__dict__.update(attributes)

    def choose(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        """Return the action with the highest upper confidence bound, and every action's bound.

        Ties go to the lowest index. Choosing does not change the model.

        Examples
        --------
        >>> import numpy as np
        >>> LinUCB(n_actions=2, dimension=1, alpha=2.0).choose(np.array([0.5]))
        (0, array([1., 1.]))
        """
        x = self._checked_context(x)
        a_inv_x = self._a_inv @ x                          # (k, d)
        theta = np.einsum("kij,kj->ki", self._a_inv, self._b)
        width = np.sqrt(np.maximum(a_inv_x @ x, 0.0))
        scores = theta @ x + self.alpha * width
        return int(np.argmax(scores)), scores

    def learn(self, x: np.ndarray, action: int, reward: float) -> None:
        """Add the reward observed for ``action`` in context ``x`` to that action's regression.

        Examples
        --------
        >>> import numpy as np
        >>> bandit = LinUCB(n_actions=2, dimension=1, alpha=0.0)
        >>> bandit.learn(np.array([1.0]), 1, 3.0)
        >>> bandit.coefficients.tolist(), bandit.counts.tolist()
        ([[0.0], [1.5]], [0, 1])
        """
        x = self._checked_context(x)
        if not (isinstance(action, int | np.integer) and not isinstance(action, bool)
                and 0 <= action < self.n_actions):
            raise ValueError(f"action must be an integer in [0, {self.n_actions}), got {action!r}")
        if not (isinstance(reward, int | float | np.floating | np.integer) and math.isfinite(reward)):
            raise ValueError(f"reward must be a finite number, got {reward!r}")
        a_inv = self._a_inv[action]
        u = a_inv @ x
        a_inv -= np.outer(u, u) / (1.0 + float(u @ x))     # outer(u, u) keeps a_inv symmetric
        self._b[action] += float(reward) * x
        self._counts[action] += 1

    def inverse(self, action: int) -> np.ndarray:
        """Return a copy of ``A_a^-1`` for one action.

        Examples
        --------
        >>> LinUCB(n_actions=1, dimension=2, ridge=2.0).inverse(0).tolist()
        [[0.5, 0.0], [0.0, 0.5]]
        """
        if not (isinstance(action, int | np.integer) and not isinstance(action, bool)
                and 0 <= action < self.n_actions):
            raise ValueError(f"action must be an integer in [0, {self.n_actions}), got {action!r}")
        return self._a_inv[action].copy()

    @property
    def coefficients(self) -> np.ndarray:
        """The ridge coefficients ``theta_a = A_a^-1 b_a``, one row per action."""
        return np.einsum("kij,kj->ki", self._a_inv, self._b)

    @property
    def counts(self) -> np.ndarray:
        """How many rewards each action has learned from (a copy)."""
        return self._counts.copy()

    def _checked_context(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dimension,):
            raise ValueError(f"x must be a 1-D array of {self.dimension} numbers (dimension), "
                             f"got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"x must be finite, got {x.tolist()!r}")
        return x

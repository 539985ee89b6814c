"""Off-policy evaluation: the value a new action policy would have had, from decisions another one logged.

A contextual-bandit policy sees a context ``x_i``, takes action ``a_i`` with
probability ``mu_i = mu(a_i | x_i)`` (the *logging propensity*) and observes the
reward ``r_i`` of that action only. The value of a *target* policy ``pi`` is
``V(pi) = E_x sum_a pi(a | x) E[r | x, a]``; the three estimators below read it off
the log, reweighting each decision by ``w_i = pi(a_i | x_i) / mu_i``.

Inverse propensity scoring (IPS; D. G. Horvitz & D. J. Thompson, JASA 47, 1952)

    V_IPS = (1/n) sum_i w_i r_i

is unbiased whenever ``mu(a | x) > 0`` for every action ``pi`` can take and the
propensities are the true ones. Its variance grows with ``E[w^2 r^2]``: large
when the target policy favours actions the logger rarely took.

Self-normalised IPS (SNIPS; T. Hesterberg, Technometrics 37, 1995; A. Swaminathan
& T. Joachims, "The Self-Normalized Estimator for Counterfactual Learning",
NeurIPS 2015)

    V_SNIPS = sum_i w_i r_i / sum_i w_i

divides by the realised total weight instead of its expectation ``n``. It has a
bias of order ``1/n`` but is consistent, always lies within the range of the
observed rewards, does not move when a constant is added to every reward, and
usually has much lower variance than IPS when the weights are large.

Doubly robust (DR; M. Dudík, J. Langford & L. Li, "Doubly Robust Policy Evaluation
and Learning", ICML 2011) adds a reward model ``rhat(x, a)`` as a control variate,

    V_DR = (1/n) sum_i [ sum_a pi(a | x_i) rhat(x_i, a) + w_i (r_i - rhat(x_i, a_i)) ].

It is unbiased if the propensities are right, whatever the model (the correction
term removes the model's bias), and has small bias if the model is right even when
the propensities are a little off: hence "doubly robust". Its variance is that of
IPS applied to the residuals ``r - rhat``: the better the model, the lower the
variance; with a perfect model only the reward noise and the variation between
contexts remain.

The batch functions take NumPy arrays (or sequences) of the logged decisions;
:class:`OffPolicyValue` keeps the same three estimates as the decisions arrive and
equals the batch functions on the same log. The target policy is given either as
its probability of each logged action (a 1-D array) or as its full distribution
over the actions (a 2-D array, one row per decision, with the logged ``actions``);
DR needs the full distribution and the model's predicted reward of every action.

Examples
--------
>>> rewards, propensities = [1.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.5, 0.5]
>>> target = [1.0, 0.0, 1.0, 1.0]          # pi(a_i | x_i) of each logged action
>>> ips(rewards, propensities, target), snips(rewards, propensities, target)
(1.0, 0.6666666666666666)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["OffPolicyValue", "doubly_robust", "importance_weights", "ips", "snips"]

#: Rewards, propensities, probabilities or actions for the batch functions.
Batch = np.ndarray | Sequence[float]

#: How far a target distribution's row may sum from 1.
DISTRIBUTION_TOLERANCE = 1e-6


def importance_weights(propensities: Batch, target: Batch, actions: Batch | None = None) -> np.ndarray:
    """Return ``w_i = pi(a_i | x_i) / mu_i`` for each logged decision.

    Parameters
    ----------
    propensities
        ``mu_i``, the logging policy's probability of the logged action, each in ``(0, 1]``.
    target
        The target policy's probability of each logged action (1-D, each in ``[0, 1]``),
        or its distribution over the actions (2-D, rows in ``[0, 1]`` summing to 1).
    actions
        The logged actions, integers in ``[0, number of actions)``; needed only with a
        2-D ``target``.

    Raises
    ------
    ValueError
        On lengths that differ, NaN or infinite values, a propensity outside ``(0, 1]``,
        a probability outside ``[0, 1]``, a distribution that does not sum to 1, or a
        missing or out-of-range action.

    Examples
    --------
    >>> importance_weights([0.5, 0.25], [1.0, 0.5]).tolist()
    [2.0, 2.0]
    >>> importance_weights([0.5, 0.25], [[0.0, 1.0], [0.5, 0.5]], actions=[1, 0]).tolist()
    [2.0, 2.0]
    >>> importance_weights([0.0], [1.0])
    Traceback (most recent call last):
    ...
    ValueError: propensities must be in (0, 1] (the logged action's probability), got 0.0 at index 0
    """
    mu = _checked_propensities(propensities)
    p = _target_probabilities(target, actions, mu.size)
    return p / mu


def ips(rewards: Batch, propensities: Batch, target: Batch, actions: Batch | None = None) -> float:
    """Return the inverse-propensity-scoring estimate ``(1/n) sum_i w_i r_i``; NaN for an empty log.

    Unbiased given the true propensities; high variance when the weights are large.
    Arguments as :func:`importance_weights`, with ``rewards`` the observed rewards.

    Examples
    --------
    >>> ips([1.0, 0.0], [0.5, 0.5], [1.0, 0.0])
    1.0
    """
    r = _checked_rewards(rewards)
    w = importance_weights(propensities, target, actions)
    _check_length("propensities", w.size, r.size)
    if r.size == 0:
        return math.nan
    return float(np.mean(w * r))


def snips(rewards: Batch, propensities: Batch, target: Batch, actions: Batch | None = None) -> float:
    """Return the self-normalised IPS estimate ``sum_i w_i r_i / sum_i w_i``.

    Biased by order ``1/n`` but consistent, and within the range of the rewards.
    NaN for an empty log or when every weight is 0 (the target policy never takes a
    logged action: the log says nothing about it). Arguments as :func:`ips`.

    Examples
    --------
    >>> snips([1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 0.5, 0.0])
    0.6666666666666666
    """
    r = _checked_rewards(rewards)
    w = importance_weights(propensities, target, actions)
    _check_length("propensities", w.size, r.size)
    total = float(np.sum(w))
    if total == 0.0:
        return math.nan
    return float(np.sum(w * r)) / total


def doubly_robust(rewards: Batch, propensities: Batch, target: Batch, actions: Batch,
                  predicted_rewards: Batch) -> float:
    """Return the doubly robust estimate of Dudík, Langford & Li (2011); NaN for an empty log.

    ``(1/n) sum_i [sum_a pi(a | x_i) rhat(x_i, a) + w_i (r_i - rhat(x_i, a_i))]``.

    Parameters
    ----------
    rewards
        The observed rewards ``r_i``.
    propensities
        ``mu_i``, the logging policy's probability of the logged action, each in ``(0, 1]``.
    target
        The target policy's distribution over the actions, one row per decision (2-D).
    actions
        The logged actions, integers in ``[0, number of actions)``.
    predicted_rewards
        ``rhat(x_i, a)``: the reward model's prediction for every action, same shape as ``target``.

    Examples
    --------
    >>> target = [[1.0, 0.0], [1.0, 0.0]]
    >>> model = [[0.5, 0.5], [0.5, 0.5]]        # knows nothing
    >>> doubly_robust([1.0, 0.0], [0.5, 0.5], target, [0, 1], model)
    1.0
    >>> perfect = [[1.0, 0.0], [1.0, 0.0]]      # right on both decisions: no correction
    >>> doubly_robust([1.0, 0.0], [0.5, 0.5], target, [0, 1], perfect)
    1.0
    """
    r = _checked_rewards(rewards)
    pi = _checked_distribution(target)
    rhat = _as_float_array("predicted_rewards", predicted_rewards, ndim=2)
    if rhat.shape != pi.shape:
        raise ValueError(f"predicted_rewards must have the shape of target {pi.shape}, got {rhat.shape}")
    a = _checked_actions(actions, pi.shape[0], pi.shape[1])
    w = importance_weights(propensities, pi, a)
    _check_length("propensities", w.size, r.size)
    if r.size == 0:
        return math.nan
    rows = np.arange(r.size)
    terms = np.sum(pi * rhat, axis=1) + w * (r - rhat[rows, a])
    return float(np.mean(terms))


class OffPolicyValue:
    """Running IPS, SNIPS and DR estimates of a target policy's value, one logged decision at a time.

    Parameters
    ----------
    n_actions
        Number of actions (>= 1); the full distributions and predicted rewards passed to
        :meth:`update` must have this length.

    Notes
    -----
    ``ips``, ``snips`` and ``dr`` equal :func:`ips`, :func:`snips` and
    :func:`doubly_robust` on the decisions seen so far, up to rounding (running sums
    against NumPy's pairwise ones). They are NaN before the first decision;
    ``snips`` also while every weight is 0, and ``dr`` once any decision came without
    the target distribution and predicted rewards it needs. A decision that fails
    validation raises ``ValueError`` and leaves the state unchanged. The state is a
    handful of floats: it pickles and resumes identically.

    Examples
    --------
    >>> value = OffPolicyValue(n_actions=2)
    >>> value.update(action=0, propensity=0.5, reward=1.0, target=[1.0, 0.0],
    ...              predicted_rewards=[0.5, 0.5])
    >>> value.update(action=1, propensity=0.5, reward=0.0, target=[1.0, 0.0],
    ...              predicted_rewards=[0.5, 0.5])
    >>> value.count, value.ips, value.snips, value.dr
    (2, 1.0, 1.0, 1.0)
    """

    def __init__(self, n_actions: int) -> None:
        if not (isinstance(n_actions, int) and not isinstance(n_actions, bool) and n_actions >= 1):
            raise ValueError(f"n_actions must be an integer >= 1, got {n_actions!r}")
        self.n_actions = n_actions
        self._count = 0
        self._dr_count = 0
        self._sum_w = 0.0
        self._sum_wr = 0.0
        self._sum_dr = 0.0

    def __repr__(self) -> str:
        return f"OffPolicyValue(n_actions={self.n_actions})"

    def update(self, action: int, propensity: float, reward: float, target: float | Batch,
               predicted_rewards: Batch | None = None) -> None:
        """Add one logged decision.

        Parameters
        ----------
        action
            The logged action, an integer in ``[0, n_actions)``.
        propensity
            The logging policy's probability of ``action``, in ``(0, 1]``.
        reward
            The observed reward (finite).
        target
            The target policy's probability of ``action`` (a number in ``[0, 1]``) or its
            distribution over the actions (``n_actions`` probabilities summing to 1).
        predicted_rewards
            The reward model's prediction for every action (``n_actions`` numbers); with a
            full ``target`` it feeds the DR estimate.
        """
        a = _checked_actions([action], 1, self.n_actions)[0]
        mu = float(_checked_propensities([propensity])[0])
        r = float(_checked_rewards([reward])[0])
        distribution: np.ndarray | None = None
        given = np.asarray(target, dtype=np.float64)
        if given.ndim == 0:
            p = float(_target_probabilities(given.reshape(1), None, 1)[0])
        else:
            if given.ndim != 1:
                raise ValueError("target must be a probability or a 1-D distribution, "
                                 f"got shape {given.shape}")
            distribution = _checked_distribution(given.reshape(1, -1))[0]
            if distribution.size != self.n_actions:
                raise ValueError(f"target must give {self.n_actions} probabilities (n_actions), "
                                 f"got {distribution.size}")
            p = float(distribution[a])
        rhat: np.ndarray | None = None
        if predicted_rewards is not None:
            rhat = _as_float_array("predicted_rewards", predicted_rewards, ndim=1)
            if rhat.size != self.n_actions:
                raise ValueError(f"predicted_rewards must give {self.n_actions} numbers (n_actions), "
                                 f"got {rhat.size}")
        w = p / mu
        self._count += 1
        self._sum_w += w
        self._sum_wr += w * r
        if distribution is not None and rhat is not None:
            self._dr_count += 1
            self._sum_dr += float(np.dot(distribution, rhat)) + w * (r - float(rhat[a]))

    @property
    def count(self) -> int:
        """Number of logged decisions seen."""
        return self._count

    @property
    def ips(self) -> float:
        """The IPS estimate so far (NaN before any decision)."""
        return self._sum_wr / self._count if self._count else math.nan

    @property
    def snips(self) -> float:
        """The SNIPS estimate so far (NaN while the total weight is 0)."""
        return self._sum_wr / self._sum_w if self._sum_w != 0.0 else math.nan

    @property
    def dr(self) -> float:
        """The doubly robust estimate so far (NaN unless every decision had the inputs DR needs)."""
        if self._count == 0 or self._dr_count != self._count:
            return math.nan
        return self._sum_dr / self._count


def _as_float_array(name: str, values: Batch, ndim: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array.ravel()))
    if bad.size:
        raise ValueError(f"{name} must be finite numbers, got {float(array.ravel()[bad[0]])!r} "
                         f"at flat index {int(bad[0])}")
    return array


def _checked_rewards(rewards: Batch) -> np.ndarray:
    return _as_float_array("rewards", rewards, ndim=1)


def _checked_propensities(propensities: Batch) -> np.ndarray:
    mu = _as_float_array("propensities", propensities, ndim=1)
    bad = np.flatnonzero((mu <= 0.0) | (mu > 1.0))
    if bad.size:
        raise ValueError("propensities must be in (0, 1] (the logged action's probability), "
                         f"got {float(mu[bad[0]])!r} at index {int(bad[0])}")
    return mu


def _checked_distribution(target: Batch) -> np.ndarray:
    pi = _as_float_array("target", target, ndim=2)
    _check_probabilities(pi.ravel())
    sums = pi.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > DISTRIBUTION_TOLERANCE)
    if bad.size:
        raise ValueError(f"each row of target must sum to 1, "
                         f"row {int(bad[0])} sums to {float(sums[bad[0]])!r}")
    return pi


def _check_probabilities(p: np.ndarray) -> None:
    bad = np.flatnonzero((p < 0.0) | (p > 1.0))
    if bad.size:
        raise ValueError(f"target probabilities must be in [0, 1], got {float(p[bad[0]])!r} "
                         f"at flat index {int(bad[0])}")


def _checked_actions(actions: Batch, n: int, n_actions: int) -> np.ndarray:
    a = np.asarray(actions)
    if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"actions must be a 1-D array of integers, got {a.dtype} of shape {a.shape}")
    _check_length("actions", a.size, n)
    bad = np.flatnonzero((a < 0) | (a >= n_actions))
    if bad.size:
        raise ValueError(f"actions must be in [0, {n_actions}), "
                         f"got {int(a[bad[0]])!r} at index {int(bad[0])}")
    return a.astype(np.int64)


def _target_probabilities(target: Batch, actions: Batch | None, n: int) -> np.ndarray:
    if np.ndim(target) == 2:
        pi = _checked_distribution(target)
        if actions is None:
            raise ValueError("actions are needed to read the logged action's probability off a 2-D target")
        _check_length("target", pi.shape[0], n)
        a = _checked_actions(actions, n, pi.shape[1])
        return pi[np.arange(n), a]
    p = _as_float_array("target", target, ndim=1)
    _check_length("target", p.size, n)
    _check_probabilities(p)
    return p


def _check_length(name: str, size: int, expected: int) -> None:
    if size != expected:
        raise ValueError(f"{name} must have one entry per logged decision ({expected}), got {size}")

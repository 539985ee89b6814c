"""Disjoint LinUCB: it does the paper's algorithm, learns a linear reward, and resumes identically."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from midstream.operators.learning.linucb import MAX_DIMENSION, LinUCB

K, D = 5, 6


def linear_bandit(seed, rounds):
    """Contexts (with a constant feature), true coefficients and noisy rewards of a linear bandit."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, (K, D))
    contexts = np.column_stack([np.ones(rounds), rng.normal(0.0, 1.0, (rounds, D - 1))])
    noise = rng.normal(0.0, 0.3, (rounds, K))
    return contexts, theta, noise


def play(policy, contexts, theta, noise):
    """Return the expected regret of each round."""
    regret = np.empty(len(contexts))
    for t, x in enumerate(contexts):
        means = theta @ x
        action = policy(t, x)
        regret[t] = means.max() - means[action]
        if isinstance(policy, _Learner):
            policy.bandit.learn(x, action, float(means[action] + noise[t, action]))
    return regret


class _Learner:
    def __init__(self, bandit):
        self.bandit = bandit

    def __call__(self, t, x):
        return self.bandit.choose(x)[0]


def test_it_learns_a_linear_reward():
    rounds = 4000
    contexts, theta, noise = linear_bandit(0, rounds)
    regret = play(_Learner(LinUCB(K, D, alpha=1.0)), contexts, theta, noise)
    rng = np.random.default_rng(1)
    uniform = play(lambda t, x: int(rng.integers(K)), contexts, theta, noise)
    first, second = regret[: rounds // 2].sum(), regret[rounds // 2:].sum()
    # Observed: 57.0 in the first half, 2.26 in the second; 8378 for the uniform policy (4275 second).
    assert second < 0.2 * first
    assert regret.sum() < 0.1 * uniform.sum()
    assert second < 0.01 * uniform[rounds // 2:].sum()


def test_it_takes_the_papers_step_with_explicit_inverses():
    """Li et al. (2010), Algorithm 1, with A_a kept and inverted at every round."""
    contexts, theta, noise = linear_bandit(3, 400)
    alpha = 0.7
    bandit = LinUCB(K, D, alpha=alpha, ridge=2.0)
    a_matrices = np.repeat(2.0 * np.eye(D)[None], K, axis=0)
    b_vectors = np.zeros((K, D))
    for t, x in enumerate(contexts):
        expected = np.empty(K)
        for a in range(K):
            a_inv = np.linalg.inv(a_matrices[a])
            expected[a] = a_inv @ b_vectors[a] @ x + alpha * math.sqrt(x @ a_inv @ x)
        action, scores = bandit.choose(x)
        np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)
        assert action == int(np.argmax(expected))
        reward = float(theta[action] @ x + noise[t, action])
        bandit.learn(x, action, reward)
        a_matrices[action] += np.outer(x, x)
        b_vectors[action] += reward * x
    for a in range(K):
        np.testing.assert_allclose(bandit.inverse(a), np.linalg.inv(a_matrices[a]), rtol=0, atol=1e-8)
        np.testing.assert_allclose(bandit.coefficients[a], np.linalg.solve(a_matrices[a], b_vectors[a]),
                                   rtol=1e-8, atol=1e-10)
    assert bandit.counts.sum() == 400


def test_the_sherman_morrison_inverse_matches_numpy_after_many_updates():
    rng = np.random.default_rng(4)
    d = 16
    bandit = LinUCB(1, d)
    accumulated = np.eye(d)
    for _ in range(3000):
        x = rng.normal(0.0, 3.0, d)
        bandit.learn(x, 0, 1.0)
        accumulated += np.outer(x, x)
    inverse = bandit.inverse(0)
    # Observed largest difference: 1.6e-19 (the largest entry is 3.9e-5).
    assert np.max(np.abs(inverse - np.linalg.inv(accumulated))) < 1e-8
    assert np.array_equal(inverse, inverse.T)  # exactly symmetric, as the pickle assumes


def test_ties_go_to_the_lowest_index_and_choosing_changes_nothing():
    bandit = LinUCB(4, 2, alpha=1.0)
    x = np.array([0.5, -0.5])
    bandit.learn(x, 0, -1.0)                       # action 0 now scores below the untried ones
    before = pickle.dumps(bandit)
    action, scores = bandit.choose(x)
    assert action == 1
    assert scores[1] == scores[2] == scores[3] > scores[0]
    assert pickle.dumps(bandit) == before
    assert LinUCB(3, 1, alpha=0.0).choose(np.array([1.0]))[0] == 0


def test_pickled_midway_it_resumes_identically():
    contexts, theta, noise = linear_bandit(7, 300)

    def drive(bandit, rows):
        out = []
        for t in rows:
            action, scores = bandit.choose(contexts[t])
            bandit.learn(contexts[t], action, float(theta[action] @ contexts[t] + noise[t, action]))
            out.append((action, scores.tolist()))
        return out

    expected = drive(LinUCB(K, D, alpha=0.5), range(300))
    for cut in (0, 1, 150, 299):
        bandit = LinUCB(K, D, alpha=0.5)
        got = drive(bandit, range(cut))
        bandit = pickle.loads(pickle.dumps(bandit))
        got += drive(bandit, range(cut, 300))
        assert got == expected, cut


def test_pickling_and_copying_leave_the_original_alone():
    contexts, theta, _ = linear_bandit(8, 100)
    bandit = LinUCB(K, D)
    for x in contexts[:50]:
        action = bandit.choose(x)[0]
        bandit.learn(x, action, float(theta[action] @ x))
    pickle.dumps(bandit)
    twin = copy.deepcopy(bandit)
    restored = pickle.loads(pickle.dumps(bandit))
    for x in contexts[50:]:
        choices = [b.choose(x) for b in (bandit, twin, restored)]
        assert all(c[0] == choices[0][0] and np.array_equal(c[1], choices[0][1]) for c in choices)
        for b in (bandit, twin, restored):
            b.learn(x, choices[0][0], 1.0)


def test_the_pickle_is_compact():
    bandit = LinUCB(8, 64)
    full = bandit._a_inv.nbytes + bandit._b.nbytes
    size = len(pickle.dumps(bandit))
    # Observed: 137 kB, against 266 kB for the full matrices and vectors.
    assert size < 0.55 * full


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_actions": 0}, r"n_actions must be an integer >= 1"),
    ({"n_actions": 2.0}, r"n_actions must be an integer >= 1"),
    ({"n_actions": True}, r"n_actions must be an integer >= 1"),
    ({"dimension": 0}, rf"dimension must be an integer in 1..{MAX_DIMENSION}"),
    ({"dimension": MAX_DIMENSION + 1}, rf"dimension must be an integer in 1..{MAX_DIMENSION}"),
    ({"alpha": -0.1}, r"alpha must be a finite number >= 0"),
    ({"alpha": math.nan}, r"alpha must be a finite number >= 0"),
    ({"ridge": 0.0}, r"ridge must be a finite number > 0"),
    ({"ridge": math.inf}, r"ridge must be a finite number > 0"),
])
def test_the_constructor_names_the_valid_values(kwargs, message):
    arguments = {"n_actions": 3, "dimension": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        LinUCB(**arguments)


@pytest.mark.parametrize(("x", "action", "reward", "message"), [
    (np.ones(3), 0, 1.0, r"x must be a 1-D array of 2 numbers"),
    (np.ones((1, 2)), 0, 1.0, r"x must be a 1-D array of 2 numbers"),
    (np.array([1.0, math.nan]), 0, 1.0, r"x must be finite"),
    (np.ones(2), 3, 1.0, r"action must be an integer in \[0, 3\)"),
    (np.ones(2), -1, 1.0, r"action must be an integer in \[0, 3\)"),
    (np.ones(2), 1.0, 1.0, r"action must be an integer in \[0, 3\)"),
    (np.ones(2), 0, math.nan, r"reward must be a finite number"),
    (np.ones(2), 0, "1", r"reward must be a finite number"),
])
def test_bad_input_raises_and_leaves_the_model_alone(x, action, reward, message):
    bandit = LinUCB(3, 2)
    bandit.learn(np.array([1.0, 2.0]), 1, 0.5)
    before = pickle.dumps(bandit)
    with pytest.raises(ValueError, match=message):
        bandit.learn(x, action, reward)
    assert pickle.dumps(bandit) == before
    if "x must" in message:
        with pytest.raises(ValueError, match=message):
            bandit.choose(x)


def test_numpy_scalars_are_accepted_and_the_repr_names_the_settings():
    bandit = LinUCB(2, 2, alpha=0.5)
    bandit.learn(np.ones(2), np.int64(1), np.float64(2.0))
    assert bandit.counts.tolist() == [0, 1]
    assert repr(bandit) == "LinUCB(n_actions=2, dimension=2, alpha=0.5, ridge=1.0)"

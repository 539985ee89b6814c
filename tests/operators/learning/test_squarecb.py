"""SquareCB: inverse-gap weighting, learning a simple bandit, pickling mid-run, argument validation."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from midstream.operators.learning.hashing import hash_features
from midstream.operators.learning.squarecb import Decision, SquareCB, inverse_gap_weights

K, BITS = 4, 8


def contexts(seed, rounds):
    """Two binary features; the best action is the index ``2 * a + b`` of the features (a, b)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(rounds, 2))
    hashed = [hash_features({"a": float(a), "b": float(b)}, {"ab": f"{a}{b}"}, bits=BITS)
              for a, b in bits.tolist()]
    best = 2 * bits[:, 0] + bits[:, 1]
    return hashed, best, rng


def play(policy, rounds, seed=0):
    """Expected regret of each round (1 unless the best action; rewards 0.8 / 0.2 Bernoulli)."""
    hashed, best, rng = contexts(seed, rounds)
    regret = np.empty(rounds)
    decisions = []
    for t, x in enumerate(hashed):
        d = policy.choose(*x)
        decisions.append(d.action)
        regret[t] = 0.6 * (d.action != best[t])
        p = 0.8 if d.action == best[t] else 0.2
        policy.learn(*x, d.action, 1.0 if rng.random() < p else 0.0)
    return regret, decisions


def test_propensities_sum_to_one_and_every_action_is_possible():
    policy = SquareCB(K, BITS, gamma=1000.0, seed=3)
    play(policy, 1500)
    hashed, _, _ = contexts(9, 50)
    for x in hashed:
        d = policy.choose(*x)
        assert isinstance(d, Decision)
        assert d.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(d.probabilities > 0.0)
        assert d.greedy == int(np.argmax(d.scores))
        assert d.probabilities[d.greedy] == d.probabilities.max()
        assert d.explored == (d.action != d.greedy)
        assert d.propensity == d.probabilities[d.action]


def test_inverse_gap_weights_follow_the_formula():
    predictions = np.array([0.2, 0.9, 0.5, 0.9])
    p, best = inverse_gap_weights(predictions, gamma=10.0)
    assert best == 1                                  # ties: the lowest index
    expected_others = 1.0 / (4 + 10.0 * (0.9 - predictions[[0, 2, 3]]))
    np.testing.assert_allclose(p[[0, 2, 3]], expected_others)
    assert p[1] == pytest.approx(1.0 - expected_others.sum())
    uniform, _ = inverse_gap_weights(predictions, gamma=0.0)
    np.testing.assert_allclose(uniform, 0.25)


def test_regret_falls():
    rounds = 4000
    regret, _ = play(SquareCB(K, BITS, seed=1), rounds)
    first, second = regret[: rounds // 2].sum(), regret[rounds // 2:].sum()
    uniform = 0.6 * 0.75 * rounds
    # Observed: 106.8 in the first half, 28.2 in the second; 1800 expected of the uniform policy.
    assert second < 0.3 * first
    assert regret.sum() < 0.3 * uniform


def test_scores_are_in_reward_units():
    policy = SquareCB(2, BITS, reward_range=(-2.0, 3.0), seed=0)
    x = hash_features({"a": 1.0}, {}, bits=BITS)
    np.testing.assert_allclose(policy.choose(*x).scores, 0.5)   # logistic 0.5 -> midpoint
    for _ in range(300):
        policy.learn(*x, 0, 3.0)
        policy.learn(*x, 1, -2.0)
    scores = policy.choose(*x).scores
    assert scores[0] > 2.5 and scores[1] < -1.5


def test_same_seed_same_decisions_and_pickled_midway_it_resumes_identically():
    a, b = SquareCB(K, BITS, seed=7), SquareCB(K, BITS, seed=7)
    assert play(a, 300)[1] == play(b, 300)[1]
    for restored in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        later = play(restored, 500, seed=5)
        assert later[1] == play(copy.deepcopy(a), 500, seed=5)[1]
    original = play(a, 500, seed=5)
    restored = pickle.loads(pickle.dumps(b))
    np.testing.assert_array_equal(play(restored, 500, seed=5)[0], original[0])
    assert play(restored, 100, seed=6)[1] == play(a, 100, seed=6)[1]
    assert restored.decisions == a.decisions == 900 and restored.explored == a.explored


def test_different_seeds_differ():
    assert play(SquareCB(K, BITS, seed=1), 200)[1] != play(SquareCB(K, BITS, seed=2), 200)[1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_actions": 1}, "n_actions must be an integer >= 2"),
    ({"n_actions": True}, "n_actions must be an integer >= 2"),
    ({"bits": 0}, "bits must be an integer in 1..24"),
    ({"gamma": -1.0}, "gamma must be a finite number >= 0"),
    ({"gamma": float("inf")}, "gamma must be a finite number >= 0"),
    ({"reward_range": (1.0, 1.0)}, "reward_range must be finite with low < high"),
    ({"reward_range": (0.0,)}, "reward_range must be a pair"),
    ({"reward_range": "ab"}, "reward_range must be a pair"),
    ({"alpha": 0.0}, "alpha must be a finite number > 0"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_invalid_arguments_are_refused(kwargs, message):
    arguments = {"n_actions": K, "bits": BITS, **kwargs}
    with pytest.raises(ValueError, match=message):
        SquareCB(**arguments)


def test_invalid_learning_input_is_refused_and_changes_nothing():
    policy = SquareCB(K, BITS, seed=0)
    x = hash_features({"a": 1.0}, {}, bits=BITS)
    before = pickle.dumps(policy)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 4\)"):
        policy.learn(*x, 4, 0.0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 4\)"):
        policy.learn(*x, True, 0.0)
    with pytest.raises(ValueError, match=r"reward must be a number in \[-1.0, 1.0\]"):
        policy.learn(*x, 0, 1.5)
    with pytest.raises(ValueError, match=r"reward must be a number in \[-1.0, 1.0\]"):
        policy.learn(*x, 0, float("nan"))
    with pytest.raises(ValueError, match="indices must be in"):
        policy.learn(np.array([1 << BITS]), np.array([1.0]), 0, 0.0)
    with pytest.raises(ValueError, match="indices must be in"):
        policy.choose(np.array([1 << BITS]), np.array([1.0]))
    assert pickle.dumps(policy) == before

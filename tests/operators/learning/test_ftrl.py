"""FTRL-Proximal: the kernels do the paper's step, the model learns, stays calibrated and resumes."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import hash_features
from midstream.operators.learning.metrics import expected_calibration_error, log_loss


def reference_step(z, n, indices, values, label, alpha, beta, l1, l2):
    """McMahan et al. (2013), Algorithm 1, one coordinate at a time in plain Python."""
    w = {}
    for i in indices:
        if abs(z[i]) <= l1:
            w[i] = 0.0
        else:
            w[i] = -(z[i] - math.copysign(l1, z[i])) / ((beta + math.sqrt(n[i])) / alpha + l2)
    margin = sum(w[i] * x for i, x in zip(indices, values, strict=True))
    p = 1.0 / (1.0 + math.exp(-max(min(margin, 35.0), -35.0)))
    for i, x in zip(indices, values, strict=True):
        g = (p - label) * x
        sigma = (math.sqrt(n[i] + g * g) - math.sqrt(n[i])) / alpha
        z[i] += g - sigma * w[i]
        n[i] += g * g
    return p


def random_examples(rng, count, bits, active=12):
    out = []
    for _ in range(count):
        indices = rng.choice(2 ** bits, size=active, replace=False).astype(np.int64)
        out.append((indices, rng.normal(0.0, 1.5, active), float(rng.random() < 0.4)))
    return out


@pytest.mark.parametrize(("alpha", "beta", "l1", "l2"),
                         [(0.2, 1.0, 0.0, 1.0), (0.5, 0.5, 0.7, 0.0), (0.05, 0.0, 2.0, 3.0)])
def test_the_kernel_takes_the_papers_step_at_every_example(alpha, beta, l1, l2):
    rng = np.random.default_rng(0)
    bits = 6  # few coordinates, so examples share them and the state evolves
    model = FTRLProximal(bits, alpha=alpha, beta=beta, l1=l1, l2=l2)
    z, n = [0.0] * 2 ** bits, [0.0] * 2 ** bits
    for indices, values, label in random_examples(rng, 500, bits):
        expected = reference_step(z, n, indices.tolist(), values.tolist(), label, alpha, beta, l1, l2)
        assert model.learn_one(indices, values, label) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(model._z, z, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model._n, n, rtol=1e-12)


def test_learn_one_returns_the_prediction_made_before_the_update():
    rng = np.random.default_rng(1)
    model = FTRLProximal(10)
    for indices, values, label in random_examples(rng, 200, 10):
        before = model.predict_one(indices, values)
        assert model.learn_one(indices, values, label) == before
    assert model.examples_learned == 200


def test_weights_are_the_ones_predictions_use():
    rng = np.random.default_rng(2)
    model = FTRLProximal(8, l1=0.3)
    examples = random_examples(rng, 300, 8)
    for indices, values, label in examples:
        model.learn_one(indices, values, label)
    w = model.weights
    assert np.count_nonzero(w) < 2 ** 8  # L1 keeps some exactly at zero
    for indices, values, _ in examples[:20]:
        assert model.predict_one(indices, values) == pytest.approx(
            1.0 / (1.0 + math.exp(-(w[indices] @ values))), rel=1e-12)


def test_converges_on_linearly_separable_data():
    rng = np.random.default_rng(3)
    true_w = rng.normal(0.0, 1.0, 20)
    model = FTRLProximal(12)
    names = [f"f{j}" for j in range(20)]
    p, labels = [], []
    for _ in range(6000):
        x = rng.normal(0.0, 1.0, 20)
        margin = x @ true_w
        if abs(margin) < 0.5:  # a margin around the separating hyperplane
            continue
        label = int(margin > 0)
        p.append(model.learn_one(*hash_features(dict(zip(names, x.tolist(), strict=True)), bits=12),
                                 label))
        labels.append(label)
    p_arr, y = np.array(p), np.array(labels)
    first, last = slice(0, 500), slice(-1000, None)
    accuracy_last = np.mean((p_arr[last] > 0.5) == y[last])
    assert np.mean((p_arr[first] > 0.5) == y[first]) < accuracy_last
    assert accuracy_last > 0.98
    assert log_loss(p_arr[last], y[last]) < log_loss(p_arr[first], y[first]) / 3


def test_predictions_are_calibrated_on_data_from_a_logistic_model():
    rng = np.random.default_rng(4)
    true_w = rng.normal(0.0, 0.7, 10)
    names = [f"f{j}" for j in range(10)]
    model = FTRLProximal(12)
    p, true_p, labels = [], [], []
    for _ in range(30_000):
        x = rng.normal(0.0, 1.0, 10)
        q = 1.0 / (1.0 + math.exp(-(x @ true_w - 0.8)))
        label = int(rng.random() < q)
        p.append(model.learn_one(*hash_features(dict(zip(names, x.tolist(), strict=True)), bits=12),
                                 label))
        true_p.append(q)
        labels.append(label)
    late = slice(-15_000, None)
    ece = expected_calibration_error(p[late], labels[late])
    assert ece < 0.02
    # As good as the true model, within a hundredth of a nat.
    assert log_loss(p[late], labels[late]) < log_loss(true_p[late], labels[late]) + 0.01


def test_a_model_pickled_midway_resumes_identically():
    rng = np.random.default_rng(5)
    examples = random_examples(rng, 400, 9)
    reference = FTRLProximal(9, l1=0.2)
    expected = [reference.learn_one(*e) for e in examples]
    for cut in (0, 1, 150, 399):
        model = FTRLProximal(9, l1=0.2)
        got = [model.learn_one(*e) for e in examples[:cut]]
        model = pickle.loads(pickle.dumps(model))
        got += [model.learn_one(*e) for e in examples[cut:]]
        assert got == expected
        assert np.array_equal(model._z, reference._z) and np.array_equal(model._n, reference._n)


def test_the_pickle_holds_only_the_touched_coordinates():
    model = FTRLProximal(18)
    fresh = len(pickle.dumps(model))
    x = hash_features({f"f{j}": 1.0 for j in range(40)})
    model.learn_one(*x, 1)
    assert fresh < 500
    assert len(pickle.dumps(model)) < fresh + 41 * 20 + 100  # slot (4 bytes), z and n (8 each)
    assert len(pickle.dumps(model)) < 2 ** 18 * 16 / 1000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bits": 0}, r"bits must be an integer in 1\.\.24, got 0"),
    ({"alpha": 0.0}, r"alpha must be a finite number > 0, got 0\.0"),
    ({"alpha": math.inf}, "alpha must be a finite number > 0"),
    ({"beta": -1.0}, "beta must be a finite number >= 0, got -1.0"),
    ({"l1": math.nan}, "l1 must be a finite number >= 0"),
    ({"l2": "1"}, "l2 must be a finite number >= 0, got '1'"),
])
def test_hyperparameters_are_validated_with_the_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FTRLProximal(**kwargs)


def test_bad_examples_raise_and_leave_the_model_unchanged():
    model = FTRLProximal(4)
    model.learn_one(np.array([0, 3]), np.array([1.0, 2.0]), 1)
    z, n = model._z.copy(), model._n.copy()
    with pytest.raises(ValueError, match=r"indices must be in \[0, 16\) \(bits=4\)"):
        model.learn_one(np.array([0, 16]), np.array([1.0, 1.0]), 0)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 16\)"):
        model.predict_one(np.array([-1]), np.array([1.0]))
    with pytest.raises(ValueError, match="values must be finite"):
        model.learn_one(np.array([0, 1]), np.array([1.0, math.nan]), 0)
    with pytest.raises(ValueError, match="same length"):
        model.learn_one(np.array([0, 1]), np.array([1.0]), 0)
    with pytest.raises(ValueError, match="label must be 0, 1 or a probability"):
        model.learn_one(np.array([0]), np.array([1.0]), 2)
    assert np.array_equal(model._z, z) and np.array_equal(model._n, n)
    assert model.examples_learned == 1


def test_accepts_lists_and_other_integer_types():
    model = FTRLProximal(4)
    a = model.learn_one([0, 3], [1.0, 2.0], True)
    b = FTRLProximal(4).learn_one(np.array([0, 3], dtype=np.int32), np.array([1, 2]), 1)
    assert a == b == 0.5

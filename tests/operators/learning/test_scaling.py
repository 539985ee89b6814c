"""RunningStandardizer: running statistics equal NumPy's, bounded keys, pickles and goes on."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from midstream.operators.learning.scaling import RunningStandardizer


def test_each_value_is_standardised_by_the_statistics_of_the_values_before_it() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(6.0, 0.7, 300)
    scaler = RunningStandardizer()
    out = [scaler.transform_one({"ttft": float(v)})["ttft"] for v in values]
    for i in range(2, 300, 37):
        before = values[:i]
        assert out[i] == pytest.approx((values[i] - before.mean()) / before.std(ddof=1), rel=1e-9)
    assert abs(float(np.mean(out[50:]))) < 0.2 and abs(float(np.std(out[50:])) - 1.0) < 0.2


def test_a_constant_feature_is_centred_not_blown_up() -> None:
    scaler = RunningStandardizer()
    assert [scaler.transform_one({"x": 3.0})["x"] for _ in range(5)] == [0.0] * 5


def test_keys_stay_bounded_and_non_finite_values_pass_untouched() -> None:
    scaler = RunningStandardizer(max_keys=2)
    out = scaler.transform_one({"a": 1.0, "b": 2.0, "c": 3.0, "d": math.inf})
    assert out["c"] == 3.0 and out["d"] == math.inf and set(scaler.stats) == {"a", "b"}
    assert math.isnan(scaler.transform_one({"a": math.nan})["a"]) and scaler.stats["a"][0] == 1


def test_pickled_midway_it_goes_on_identically() -> None:
    values = [{"a": float(v), "b": float(v) ** 2} for v in range(20)]
    whole, half = RunningStandardizer(), RunningStandardizer()
    expected = [whole.transform_one(v) for v in values]
    got = [half.transform_one(v) for v in values[:10]]
    half = pickle.loads(pickle.dumps(half))
    got += [half.transform_one(v) for v in values[10:]]
    assert got == expected


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_keys": 0}, "max_keys must be an integer >= 1"),
    ({"min_std": 0.0}, "min_std must be a finite number > 0"),
])
def test_constructor_names_valid_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunningStandardizer(**kwargs)  # type: ignore[arg-type]

"""Feature hashing is pinned (a model means the same in every process), bounded and signed."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midstream.operators.learning.hashing import (
    BIAS_INDEX,
    MAX_BITS,
    MIN_BITS,
    check_bits,
    feature_slot,
    hash_features,
)

# A change of hash function silently scrambles every trained model: it must fail here.
PINNED = {
    ("model=gpt-4o", 16): (57753, 1.0),
    ("model=gpt-4o", 18): (105702, 1.0),
    ("ttft_s", 18): (242770, 1.0),
    ("provider=openai", 18): (134574, 1.0),
    ("rule:pii_email", 18): (38457, -1.0),
    ("word=é", 18): (248182, -1.0),
    ("", 18): (1, -1.0),
    ("itl_p95_s", 10): (367, -1.0),
}


@pytest.mark.parametrize(("key", "bits"), list(PINNED))
def test_slots_are_pinned(key, bits):
    assert feature_slot(key, bits) == PINNED[key, bits]


def test_a_whole_vector_is_pinned():
    x = hash_features({"ttft_s": 0.8, "position": 3.0, "stalls": 0}, {"model": "gpt-4o"}, bits=16)
    assert x.indices.tolist() == [0, 2503, 9966, 57753]
    assert x.values.tolist() == [1.0, 0.8, -3.0, 1.0]
    assert x.indices.dtype == np.int64 and x.values.dtype == np.float64


def test_slots_are_the_same_in_another_process_with_another_string_hash_seed():
    code = ("from midstream.operators.learning.hashing import feature_slot; "
            f"print([feature_slot(k, b) for k, b in {list(PINNED)!r}])")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(list(PINNED.values()))


names = st.text(min_size=0, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@settings(max_examples=200, deadline=None)
@given(numeric=st.dictionaries(names, finite, max_size=30),
       categorical=st.dictionaries(names, st.one_of(names, st.lists(names, max_size=10)), max_size=5),
       bits=st.integers(MIN_BITS, MAX_BITS))
def test_output_is_bounded_distinct_and_starts_with_the_bias(numeric, categorical, bits):
    indices, values = hash_features(numeric, categorical, bits=bits)
    assert indices.shape == values.shape
    assert indices[0] == BIAS_INDEX and values[0] == 1.0
    assert np.all((indices >= 0) & (indices < 2 ** bits))
    assert len(set(indices.tolist())) == len(indices)
    assert np.all(np.isfinite(values))
    # No hashed feature lands on the bias slot.
    assert BIAS_INDEX not in [feature_slot(k, bits)[0] for k in numeric]


@settings(max_examples=100, deadline=None)
@given(numeric=st.dictionaries(names, finite, max_size=20), bits=st.integers(MIN_BITS, 12))
def test_colliding_features_add_up_with_their_signs(numeric, bits):
    indices, values = hash_features(numeric, bits=bits)
    expected: dict[int, float] = {BIAS_INDEX: 1.0}
    for name, value in numeric.items():
        if value:
            slot, sign = feature_slot(name, bits)
            expected[slot] = expected.get(slot, 0.0) + sign * value
    assert dict(zip(indices.tolist(), values.tolist(), strict=True)) == expected


def test_every_hashed_feature_shares_slot_1_at_one_bit():
    indices, values = hash_features({"a": 1.0, "b": 2.0}, {"c": ["x", "y"]}, bits=1)
    signs = [feature_slot(k, 1)[1] for k in ("a", "b", "c=x", "c=y")]
    assert indices.tolist() == [0, 1]
    assert values[1] == pytest.approx(np.dot(signs, [1.0, 2.0, 1.0, 1.0]))


def test_categorical_values_are_a_bag_and_a_string_is_one_value():
    one = hash_features(categorical={"w": "the"}, bits=18)
    bag = hash_features(categorical={"w": ["the", "the", "cat"]}, bits=18)
    slot, sign = feature_slot("w=the", 18)
    assert one.indices.tolist() == [0, slot] and one.values.tolist() == [1.0, sign]
    assert dict(zip(bag.indices.tolist(), bag.values.tolist(), strict=True))[slot] == 2 * sign
    assert len(bag.indices) == 3


def test_slots_spread_evenly_and_signs_are_balanced():
    bits = 8
    keys = [f"word={i}" for i in range(20_000)]
    slots, signs = zip(*(feature_slot(k, bits) for k in keys), strict=True)
    counts = np.bincount(slots, minlength=2 ** bits)[1:]
    expected = len(keys) / (2 ** bits - 1)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert counts.min() > 0 and chi2 < 2 * (2 ** bits - 2)  # dof 254; 508 is far in the tail
    assert abs(np.mean(signs)) < 0.03


def test_zeros_are_left_out_and_non_finite_values_rejected():
    assert hash_features({"a": 0.0, "b": -0.0}).indices.tolist() == [0]
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=r"'a' is .*; features must be finite"):
            hash_features({"a": bad})


@pytest.mark.parametrize("bits", [0, 25, 2.0, True, "18"])
def test_bits_out_of_range_are_rejected_with_the_valid_range(bits):
    with pytest.raises(ValueError, match=r"bits must be an integer in 1\.\.24"):
        check_bits(bits)
    with pytest.raises(ValueError, match=r"1\.\.24"):
        hash_features({"a": 1.0}, bits=bits)

"""Feature hashing: named numeric and categorical features into a sparse vector of ``2**bits`` slots.

The signed hashing trick (K. Weinberger, A. Dasgupta, J. Langford, A. Smola,
J. Attenberg, "Feature hashing for large scale multitask learning", ICML 2009):
each feature key goes to slot ``h(key) mod (2**bits - 1) + 1`` with the sign
``±1`` of another bit of the hash, so two keys that share a slot add noise of
mean zero to each other instead of a bias. Slot 0 is the bias, always present
with value 1, and no hashed feature lands on it.

Keys are the feature's name for a numeric feature and ``"name=value"`` for a
categorical one (a sequence of values, such as the words of a prefix, gives one
key per value, repeated values adding up). The hash is CRC-32 of the key's
UTF-8 bytes followed by MurmurHash3's 32-bit finaliser, which spreads CRC's
linear structure over every bit. Unlike Python's ``hash()`` it is the same in
every process and every Python version, so a model trained in one job keeps its
meaning in the next; a change of hash function invalidates every trained model
(``tests/operators/learning/test_hashing.py`` pins the slots).

Cost: about 0.3 µs per key whose slot is remembered (up to ``SLOT_CACHE`` keys
per process), about 1 µs for a new key, plus about 2 µs per call to build the two
arrays: 12 µs for the 35 keys of a benchmark example (``python -m
bench.online_learners``), six times the cost of learning from them.
Feature values are not scaled: give latencies in seconds or as ``log1p(ms)`` so
that values are of order 1, as FTRL's per-coordinate rates expect.

Examples
--------
>>> x = hash_features({"ttft_s": 0.8, "position": 3.0}, {"model": "gpt-4o"}, bits=16)
>>> x.indices.tolist(), x.values.tolist()
([0, 2503, 9966, 57753], [1.0, 0.8, -3.0, 1.0])
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["BIAS_INDEX", "DEFAULT_BITS", "MAX_BITS", "MIN_BITS", "SLOT_CACHE", "HashedFeatures",
           "check_bits", "feature_slot", "hash_features"]

#: 2**18 slots, for a few thousand live features (health numbers, rule counts, model and
#: provider) plus a lexical vocabulary of tens of thousands: of 50,000 keys, 17 % share a
#: slot with another, against 53 % at 2**16. ``ftrl.FTRLProximal`` says what it costs.
DEFAULT_BITS = 18
MIN_BITS = 1
#: 2**24 float64 slots are 128 MB per array of a learner: more is a mistake, not a model.
MAX_BITS = 24
BIAS_INDEX = 0
#: Keys whose slot is remembered, per ``bits``, process-wide (then forgotten all at once).
SLOT_CACHE = 1 << 16


class HashedFeatures(NamedTuple):
    """A sparse feature vector: parallel arrays of distinct slots and their values.

    ``indices`` (int64, in ``[0, 2**bits)``, the bias slot 0 first) and ``values``
    (float64, finite) have the same length; unpack it as ``indices, values = x``.
    """

    indices: np.ndarray
    values: np.ndarray


def check_bits(bits: int) -> int:
    """Return ``bits`` if it is an integer in ``MIN_BITS..MAX_BITS``, else raise ``ValueError``.

    >>> check_bits(30)
    Traceback (most recent call last):
    ...
    ValueError: bits must be an integer in 1..24, got 30
    """
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) \
            or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return int(bits)


def feature_slot(key: str, bits: int) -> tuple[int, float]:
    """Return the slot (in ``1..2**bits - 1``) and sign (``±1.0``) of a feature key.

    ``bits`` is not checked here: :func:`hash_features` checks it once per call.

    Examples
    --------
    >>> feature_slot("model=gpt-4o", 16)
    (57753, 1.0)
    >>> feature_slot("model=gpt-4o", 18)
    (105702, 1.0)
    """
    h = zlib.crc32(key.encode("utf-8"))
    # MurmurHash3 fmix32: a bijection on 32 bits that makes every output bit depend on
    # every input bit (CRC-32 alone is linear, so similar keys differ in related bits).
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return 1 + (h >> 1) % ((1 << bits) - 1), (1.0 if h & 1 else -1.0)


# {bits: {key: (slot, sign)}}: a memo of feature_slot, emptied when it reaches SLOT_CACHE
# keys (a plain dict look-up is a third of the cost of functools.lru_cache's).
_slot_memo: dict[int, dict[str, tuple[int, float]]] = {}


def _memo(bits: int) -> dict[str, tuple[int, float]]:
    memo = _slot_memo.get(bits)
    if memo is None:
        memo = _slot_memo[bits] = {}
    elif len(memo) >= SLOT_CACHE:
        memo.clear()
    return memo


def hash_features(numeric: Mapping[str, float] | None = None,
                  categorical: Mapping[str, str | Iterable[str]] | None = None,
                  *, bits: int = DEFAULT_BITS) -> HashedFeatures:
    """Hash named features into distinct slots of a ``2**bits``-dimensional vector, bias included.

    Parameters
    ----------
    numeric
        ``{name: value}``; zeros are left out (they add nothing to a linear model).
    categorical
        ``{name: value}`` or ``{name: [value, ...]}``: each value is the feature
        ``"name=value"`` with value 1 (repeats add up, so a list of words is a bag of words).
    bits
        The vector has ``2**bits`` slots (``MIN_BITS..MAX_BITS``); a learner must use the same.

    Returns
    -------
    HashedFeatures
        Slot 0 (the bias, value 1) first, then each slot in order of its first key;
        keys that share a slot are summed with their signs (slots whose sum is exactly 0
        are kept).

    Raises
    ------
    ValueError
        If ``bits`` is out of range or a numeric value is NaN or infinite.

    Examples
    --------
    >>> indices, values = hash_features({"stalls": 2}, {"words": ["the", "the"]}, bits=8)
    >>> indices.tolist(), values.tolist()
    ([0, 48, 4], [1.0, -2.0, 2.0])
    >>> hash_features(bits=8).indices.tolist()      # the bias alone
    [0]
    >>> hash_features({"itl_ms": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: feature 'itl_ms' is nan; features must be finite
    """
    bits = check_bits(bits)
    memo = _memo(bits)
    slots: dict[int, float] = {BIAS_INDEX: 1.0}
    if numeric:
        for name, value in numeric.items():
            x = float(value)
            if x == 0.0:
                continue
            if not math.isfinite(x):
                raise ValueError(f"feature {name!r} is {x}; features must be finite")
            found = memo.get(name)
            if found is None:
                found = memo[name] = feature_slot(name, bits)
            slot = found[0]
            slots[slot] = slots.get(slot, 0.0) + found[1] * x
    if categorical:
        for name, chosen in categorical.items():
            for item in (chosen,) if isinstance(chosen, str) else chosen:
                key = f"{name}={item}"
                found = memo.get(key)
                if found is None:
                    found = memo[key] = feature_slot(key, bits)
                slot = found[0]
                slots[slot] = slots.get(slot, 0.0) + found[1]
    n = len(slots)
    return HashedFeatures(np.fromiter(slots.keys(), dtype=np.int64, count=n),
                          np.fromiter(slots.values(), dtype=np.float64, count=n))

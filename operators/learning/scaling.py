"""Online standardisation of named numeric features: each to zero mean and unit spread, as seen so far.

FTRL's per-coordinate learning rates assume features of order one around zero.
A raw ``log1p`` latency of about 6 on every example acts as a second bias,
correlated with the real one, and slows and skews learning; standardising each
named feature by its running mean and standard deviation (Welford's method)
removes that without a training pass. The statistics are updated by every
example transformed (prediction time, unsupervised), so they follow the
traffic; a drift in a feature's level is absorbed as the traffic moves.

Examples
--------
>>> scaler = RunningStandardizer()
>>> [round(scaler.transform_one({"ttft": v})["ttft"], 3) for v in (6.0, 7.0, 5.0, 6.0)]
[0.0, 1.0, -2.121, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["RunningStandardizer"]


class RunningStandardizer:
    """Standardise named numeric features by their running mean and standard deviation.

    Parameters
    ----------
    max_keys
        Most distinct feature names it keeps statistics for (state stays bounded);
        a name beyond them passes through unchanged.
    min_std
        Below this standard deviation (a feature seen once, or always with the
        same value) a value is only centred, never blown up.

    Notes
    -----
    Each value is standardised with the statistics *before* it is added, so
    the first value of a feature is 0 and a value is never compared with itself.
    Non-finite values pass through unchanged and are not counted. Plain data:
    it pickles, and a restored scaler goes on identically.
    """

    def __init__(self, max_keys: int = 64, min_std: float = 1e-3) -> None:
        if not (isinstance(max_keys, int) and max_keys >= 1):
            raise ValueError(f"max_keys must be an integer >= 1, got {max_keys!r}")
        if not (isinstance(min_std, int | float) and min_std > 0 and math.isfinite(min_std)):
            raise ValueError(f"min_std must be a finite number > 0, got {min_std!r}")
        self.max_keys = max_keys
        self.min_std = min_std
        self.stats: dict[str, tuple[int, float, float]] = {}
        """Per feature name: (count, mean, sum of squared deviations)."""

    def transform_one(self, features: Mapping[str, float]) -> dict[str, float]:
        """Return ``features`` standardised, and add them to the running statistics."""
        out: dict[str, float] = {}
        stats = self.stats
        for name, value in features.items():
            seen = stats.get(name)
            if seen is None:
                if len(stats) >= self.max_keys or not math.isfinite(value):
                    out[name] = value
                    continue
                seen = (0, 0.0, 0.0)
            count, mean, m2 = seen
            if not math.isfinite(value):
                out[name] = value
                continue
            std = math.sqrt(m2 / (count - 1)) if count > 1 else 0.0
            if count == 0:
                out[name] = 0.0
            else:
                out[name] = (value - mean) / std if std >= self.min_std else value - mean
            count += 1
            delta = value - mean
            mean += delta / count
            stats[name] = (count, mean, m2 + delta * (value - mean))
        return out

"""Page–Hinkley test for a shift in the mean of a stream, such as a learner's log loss.

E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954), as river's
``drift.PageHinkley`` does it (same parameters, same defaults, same alarms:
``tests/operators/learning/test_drift.py`` checks it step for step when river is
installed). With ``mean_t`` the running mean of ``x_1..x_t``, the two cumulative
sums

    up_t   = alpha * up_{t-1}   + (x_t - mean_t) - delta
    down_t = alpha * down_{t-1} + (x_t - mean_t) + delta

rise (fall) while the stream sits above (below) its mean by more than ``delta``;
an alarm is raised when one has climbed more than ``threshold`` from its lowest
(highest) point, once ``min_instances`` values have been seen. The next value
after an alarm starts the test afresh, on the new regime.

``delta`` is about half the smallest shift worth catching and ``threshold`` trades
delay for false alarms, both in the units of ``x``: after a shift of ``s`` the alarm
comes about ``threshold / (s - delta)`` values later, and false alarms grow rarer as
``2 * delta * threshold / sigma**2`` grows, for values of standard deviation
``sigma``. With river's defaults (0.005 and 50), 100,000 stationary Gaussian values
raised 1 false alarm at ``sigma = 0.2``, 3 at 0.3 and 55 at 1.

Written here rather than imported: river's detector costs the same per value
(0.5 µs) but importing river takes a second and brings SciPy, and its state would
tie our snapshots to river's version (``python -m bench.online_learners``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["PageHinkley", "page_hinkley_alarms"]

MODES = ("up", "down", "both")


class PageHinkley:
    """Page–Hinkley change detector for the mean of a stream.

    Parameters
    ----------
    min_instances
        Values seen (since the start or the last alarm) before an alarm may be raised (>= 1).
    delta
        Tolerated deviation from the mean (>= 0), in the units of the values.
    threshold
        Alarm level (``lambda``, > 0) for the cumulative deviation.
    alpha
        Forgetting factor of the cumulative sums, in ``(0, 1]`` (1 forgets nothing).
    mode
        ``"up"`` for increases only (a loss getting worse), ``"down"`` for decreases only,
        or ``"both"``.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> detector = PageHinkley(delta=0.05, threshold=10.0, mode="up")
    >>> losses = [rng.gauss(0.4, 0.2) for _ in range(1000)] + [rng.gauss(0.7, 0.2) for _ in range(300)]
    >>> alarms = []
    >>> for i, loss in enumerate(losses):
    ...     detector.update(loss)
    ...     if detector.drift_detected:
    ...         alarms.append(i)
    >>> alarms                       # the shift is at 1000
    [1040]
    >>> page_hinkley_alarms(losses, delta=0.05, threshold=10.0, mode="up")
    [1040]
    """

    def __init__(self, min_instances: int = 30, delta: float = 0.005, threshold: float = 50.0,
                 alpha: float = 1 - 0.0001, mode: str = "both") -> None:
        if isinstance(min_instances, bool) or not isinstance(min_instances, int) or min_instances < 1:
            raise ValueError(f"min_instances must be an integer >= 1, got {min_instances!r}")
        if not (isinstance(delta, int | float) and 0 <= delta < math.inf):
            raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
        if not (isinstance(threshold, int | float) and 0 < threshold < math.inf):
            raise ValueError(f"threshold must be a finite number > 0, got {threshold!r}")
        if not (isinstance(alpha, int | float) and 0 < alpha <= 1):
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self._alarms = 0
        self._restart()

    def _restart(self) -> None:
        self._drift_detected = False
        self._n = 0
        self._mean = 0.0
        self._up = 0.0
        self._up_min = math.inf
        self._down = 0.0
        self._down_max = -math.inf

    def update(self, x: float) -> None:
        """Add one value; read :attr:`drift_detected` for the verdict."""
        value = float(x)
        if not math.isfinite(value):
            raise ValueError(f"values must be finite, got {x!r}; the state is unchanged")
        if self._drift_detected:
            self._restart()
        n = self._n = self._n + 1
        mean = self._mean = self._mean + (value - self._mean) / n
        deviation = value - mean
        up = self._up = self.alpha * self._up + deviation - self.delta
        down = self._down = self.alpha * self._down + deviation + self.delta
        if up < self._up_min:
            self._up_min = up
        if down > self._down_max:
            self._down_max = down
        if n < self.min_instances:
            return
        mode = self.mode
        if (mode != "down" and up - self._up_min > self.threshold) or \
                (mode != "up" and self._down_max - down > self.threshold):
            self._drift_detected = True
            self._alarms += 1

    @property
    def drift_detected(self) -> bool:
        """Whether the last value raised an alarm."""
        return self._drift_detected

    @property
    def alarms(self) -> int:
        """Alarms raised so far."""
        return self._alarms

    @property
    def mean(self) -> float:
        """Mean of the values since the start or the last alarm (0 before any)."""
        return self._mean


def page_hinkley_alarms(values: Iterable[float], *, min_instances: int = 30, delta: float = 0.005,
                        threshold: float = 50.0, alpha: float = 1 - 0.0001,
                        mode: str = "both") -> list[int]:
    """Return the positions in ``values`` at which :class:`PageHinkley` raises an alarm.

    >>> page_hinkley_alarms([0.0] * 100 + [10.0] * 20, threshold=20.0)
    [102]
    """
    detector = PageHinkley(min_instances, delta, threshold, alpha, mode)
    alarms = []
    for i, value in enumerate(values):
        detector.update(value)
        if detector.drift_detected:
            alarms.append(i)
    return alarms

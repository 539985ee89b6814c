"""Reference signals with known dynamics, shared by the temporal-analysis tests and benchmarks.

Every generator is deterministic for a given ``seed`` and returns a float64 array of
exactly ``n`` samples, after discarding a transient so the orbit is on its attractor
(except ``damped_oscillation`` and ``logistic`` below the chaos threshold, whose
transient *is* the signal).
"""

from __future__ import annotations

import numpy as np

LN2 = float(np.log(2.0))
HENON_LLE = 0.419  # per iteration, a=1.4, b=0.3 (Sprott, Chaos and Time-Series Analysis, 2003)
LORENZ_LLE = 0.906  # per time unit, sigma=10, rho=28, beta=8/3 (Sprott 2003)


def logistic(n: int, r: float = 4.0, x0: float | None = None, seed: int = 0,
             transient: int = 1000) -> np.ndarray:
    """Logistic map x <- r x (1 - x). For r=4 the largest Lyapunov exponent is ln 2."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.9) if x0 is None else x0
    out = np.empty(n)
    for i in range(transient + n):
        x = r * x * (1.0 - x)
        if r == 4.0 and (x <= 0.0 or x >= 1.0):
            x = rng.uniform(0.1, 0.9)  # float round-off can land on the unstable fixed points
        if i >= transient:
            out[i - transient] = x
    return out


def henon(n: int, a: float = 1.4, b: float = 0.3, seed: int = 0,
          transient: int = 1000) -> np.ndarray:
    """The x component of the Hénon map; largest Lyapunov exponent about 0.419 per step."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)
    out = np.empty(n)
    for i in range(transient + n):
        x, y = 1.0 - a * x * x + y, b * x
        if i >= transient:
            out[i - transient] = x
    return out


def lorenz(n: int, dt: float = 0.01, seed: int = 0, transient_time: float = 50.0,
           sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """The x component of the Lorenz system: RK4 steps of at most 0.005, sampled every dt.

    Its largest Lyapunov exponent is about 0.906 per time unit.
    """
    rng = np.random.default_rng(seed)
    state = np.array([1.0, 1.0, 1.0]) + rng.normal(0.0, 0.1, 3)
    sub = max(1, round(dt / 0.005))  # RK4 steps of at most 5 ms of model time
    h = dt / sub

    def f(s: np.ndarray) -> np.ndarray:
        x, y, z = s
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    skip = round(transient_time / dt)
    out = np.empty(n)
    for i in range(skip + n):
        for _ in range(sub):
            k1 = f(state)
            k2 = f(state + 0.5 * h * k1)
            k3 = f(state + 0.5 * h * k2)
            k4 = f(state + h * k3)
            state = state + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        if i >= skip:
            out[i - skip] = state[0]
    return out


def sine(n: int, period: float = 25.0, phase: float = 0.0) -> np.ndarray:
    """A pure sine with the given period in samples."""
    return np.sin(2.0 * np.pi * np.arange(n) / period + phase)


def quasi_periodic(n: int, period: float = 25.0, ratio: float = (1 + 5 ** 0.5) / 2,
                   phase: float = 0.0) -> np.ndarray:
    """Two tones whose frequency ratio is irrational (the golden ratio by default)."""
    t = np.arange(n)
    return (np.sin(2.0 * np.pi * t / period + phase)
            + 0.7 * np.sin(2.0 * np.pi * t * ratio / period + 1.3 * phase))


def period_k_map(n: int, k: int = 4, seed: int = 0) -> np.ndarray:
    """A period-k cycle of distinct random levels, like a map in a stable k-cycle."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(0.0, 1.0, k)
    return levels[np.arange(n) % k]


def damped_oscillation(n: int, period: float = 20.0, decay: float = 0.05,
                       phase: float = 0.0) -> np.ndarray:
    """A transient settling to a constant: exp(-decay t) cos(2 pi t / period)."""
    t = np.arange(n)
    return np.exp(-decay * t) * np.cos(2.0 * np.pi * t / period + phase)


def white_noise(n: int, seed: int = 0) -> np.ndarray:
    """Independent standard normal samples."""
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def ar1(n: int, phi: float = 0.7, seed: int = 0) -> np.ndarray:
    """An AR(1) process x_t = phi x_{t-1} + e_t: coloured, but still noise."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, 1.0, n + 200)
    x = np.empty(n + 200)
    x[0] = e[0]
    for i in range(1, n + 200):
        x[i] = phi * x[i - 1] + e[i]
    return x[200:]


def add_noise(x: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise whose standard deviation is ``fraction`` of the signal's."""
    if fraction == 0.0:
        return x.copy()
    scale = float(np.std(x)) or 1.0
    return x + np.random.default_rng(seed + 7919).normal(0.0, fraction * scale, x.shape[0])

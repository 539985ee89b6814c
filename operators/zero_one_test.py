"""The Gottwald–Melbourne 0–1 test for chaos: K near 1 for chaotic data, near 0 for regular.

Implements the 2009 version (G. A. Gottwald and I. Melbourne, "On the
implementation of the 0–1 test for chaos", SIAM J. Appl. Dyn. Syst. 8, 129–145,
2009; the same algorithm as P. Matthews' reference ``z1test.m``):

1. for each of ``n_c`` frequencies ``c`` drawn uniformly from ``(pi/5, 4pi/5)``
   (away from resonances), the translation variables
   ``p(n) = sum_{j<=n} x(j) cos(jc)``, ``q(n) = sum_{j<=n} x(j) sin(jc)``;
2. their mean-square displacement ``M(n)`` for ``n = 1..n_cut`` (``n_cut = N/10``),
   averaged over all available start points;
3. the *modified* displacement ``D(n) = M(n) - mean(x)^2 (1 - cos nc) / (1 - cos c)``,
   which removes the bounded oscillation that a non-zero mean adds;
4. ``K_c``, the correlation coefficient of ``D(n)`` with ``n`` (the "correlation
   method"), and finally ``K = median(K_c)``.

For a bounded regular orbit ``D`` stays bounded (``K`` near 0); for chaotic dynamics
``p, q`` behave like a Brownian motion and ``D`` grows linearly (``K`` near 1).
Noise also gives ``K`` near 1: the test says whether the data are regular, and
other evidence (such as permutation entropy against surrogates) must separate
chaos from noise. Oversampled flows must be subsampled first (``downsample``),
or ``K`` drifts towards 0 for chaotic flows.
"""

from __future__ import annotations

import numpy as np

from midstream.operators._regime_kernels import zero_one_k_per_c

C_LOW = np.pi / 5.0
C_HIGH = 4.0 * np.pi / 5.0


def zero_one_k_values(x: np.ndarray | list[float], *, n_c: int = 100, seed: int = 0,
                      n_cut: int | None = None, downsample: int = 1) -> np.ndarray:
    """Compute the per-frequency statistics ``K_c`` of the 0–1 test (their median is ``K``).

    Parameters are those of :func:`zero_one_test`.

    Examples
    --------
    >>> k = zero_one_k_values(np.sin(0.3 * np.arange(1000)), n_c=20)
    >>> k.shape, bool(np.median(k) < 0.2)
    ((20,), True)
    """
    if n_c < 1:
        raise ValueError(f"n_c must be >= 1, got {n_c!r}")
    if downsample < 1:
        raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
    values = np.ascontiguousarray(x, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("x must be finite (no NaN or inf)")
    values = np.ascontiguousarray(values[::downsample])
    n = values.shape[0]
    cut = max(n // 10, 2) if n_cut is None else n_cut
    if cut < 2 or cut >= n:
        raise ValueError(
            f"need 2 <= n_cut < len(x) after downsampling ({n}), got n_cut={cut}; "
            "give a longer series"
        )
    cs = np.random.default_rng(seed).uniform(C_LOW, C_HIGH, n_c)
    return np.asarray(zero_one_k_per_c(values, cs, cut))


def zero_one_test(x: np.ndarray | list[float], *, n_c: int = 100, seed: int = 0,
                  n_cut: int | None = None, downsample: int = 1) -> float:
    """Gottwald–Melbourne 0–1 test for chaos (2009 version): ``K`` in [0, 1].

    Parameters
    ----------
    x
        The observable, one dimension, finite. At least a few hundred samples give a
        clear answer; with fewer, ``K`` is noisy.
    n_c
        Number of random frequencies ``c`` in ``(pi/5, 4pi/5)``; ``K`` is the median.
    seed
        Seed of the generator that draws the ``c`` values, so results are repeatable.
    n_cut
        Largest displacement lag; ``len(x) // 10`` (after downsampling) by default, the
        paper's choice.
    downsample
        Keep every ``downsample``-th sample first (for oversampled flows).

    Returns
    -------
    float
        ``K``, clipped to [0, 1]: near 1 for chaotic (or noisy) data, near 0 for
        periodic and quasi-periodic data.

    Notes
    -----
    Gottwald & Melbourne, SIAM J. Appl. Dyn. Syst. 8, 129–145 (2009). ``K`` is invariant
    under ``x -> a*x`` and, thanks to the modified displacement, nearly so under
    ``x -> x + b``.

    Examples
    --------
    >>> x = np.empty(2000); x[0] = 0.3
    >>> for i in range(1, 2000):
    ...     x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])      # logistic map, chaotic
    >>> zero_one_test(x) > 0.9
    True
    >>> zero_one_test(np.sin(0.3 * np.arange(2000))) < 0.1   # periodic
    True
    """
    k = float(np.median(zero_one_k_values(x, n_c=n_c, seed=seed, n_cut=n_cut,
                                          downsample=downsample)))
    return min(max(k, 0.0), 1.0)

"""Spectral line count: how much of a window's power sits in a few sharp lines, and how they relate.

A periodic signal's spectrum is a set of lines on one harmonic grid ``m * f0``; a
quasi-periodic signal has lines at two or more incommensurate frequencies; noise and
chaos spread their power over a continuum. The window is detrended to zero mean,
tapered with a Hann window (sidelobes below -31 dB, so a strong line does not raise
false ones) and zero-padded four times; lines are the local maxima of the power
spectrum above ``rel_threshold`` of the strongest one, their frequencies refined by
parabolic interpolation of the log power (Grandke, "Interpolation algorithms for
discrete Fourier transforms of weighted signals", IEEE Trans. Instrum. Meas. 32, 1983).

Everything is computed on the standardised window, so the answer does not change
under ``x -> a*x + b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from midstream.operators._spectral_kernels import spectrum_lines

PAD = 4
HALF_WIDTH_BINS = 2.0  # Hann main lobe: +-2 bins of the unpadded transform


@dataclass(frozen=True, slots=True)
class LineSpectrum:
    """Lines found in a window's power spectrum.

    Attributes
    ----------
    frequencies
        Line frequencies in cycles per sample, strongest line first.
    power_fractions
        Each line's share of the total power (its main lobe).
    line_fraction
        Share of the total power inside the main lobes of all lines.
    fundamental
        ``f0`` in cycles per sample when every line is a harmonic ``m * f0`` (``m`` up
        to ``max_harmonic``), else ``None``.
    harmonic_error
        Largest distance of a line from its harmonic, in bins of the unpadded
        transform (``1 / len(x)`` cycles per sample); ``inf`` without a fundamental.
    """

    frequencies: tuple[float, ...]
    power_fractions: tuple[float, ...]
    line_fraction: float
    fundamental: float | None
    harmonic_error: float

    @property
    def count(self) -> int:
        """Number of lines."""
        return len(self.frequencies)


def spectral_lines(x: np.ndarray | list[float], *, rel_threshold: float = 0.01,
                   max_lines: int = 12, tolerance_bins: float = 0.3,
                   max_harmonic: int = 16) -> LineSpectrum:
    """Find the spectral lines of a window and test whether they share one fundamental.

    Parameters
    ----------
    x
        The window, one dimension, finite, at least 8 samples.
    rel_threshold
        A local maximum is a line when its power is at least this fraction of the
        strongest one.
    max_lines
        Keep at most this many lines (the strongest).
    tolerance_bins
        A line is a harmonic of ``f0`` when it lies within this many bins of
        ``m * f0``.
    max_harmonic
        Largest harmonic number ``m`` considered.

    Returns
    -------
    LineSpectrum

    Notes
    -----
    The fundamental is searched as ``f / d`` for the lowest line ``f`` and ``d = 1, 2``
    (a missing fundamental), and refined by least squares over all lines. Lines within
    1.5 bins of zero frequency are trends, not oscillations, and are left out of the
    harmonic test. A single line is trivially harmonic.

    Examples
    --------
    >>> t = np.arange(300)
    >>> s = spectral_lines(np.sin(2 * np.pi * t / 25))
    >>> s.count, round(s.frequencies[0], 4), s.line_fraction > 0.99
    (1, 0.04, True)
    >>> q = spectral_lines(np.sin(2 * np.pi * t / 25) + 0.7 * np.sin(2 * np.pi * t * 1.618 / 25))
    >>> q.count, q.fundamental is None
    (2, True)
    """
    values = np.asarray(x, dtype=np.float64)
    n = values.shape[0]
    if values.ndim != 1 or n < 8:
        raise ValueError(f"x must be one-dimensional with at least 8 samples, got {values.shape}")
    if not values.max() > values.min():
        return LineSpectrum((), (), 0.0, None, float("inf"))
    taper, taper_sum = _hann(n)
    centred = values - np.dot(values, taper) / taper_sum
    scale = float(np.max(np.abs(centred)))
    if scale == 0.0:
        return LineSpectrum((), (), 0.0, None, float("inf"))
    nfft = PAD * n
    power = np.abs(np.fft.rfft(centred / scale * taper, nfft)) ** 2
    total = float(power.sum())
    if total == 0.0:
        return LineSpectrum((), (), 0.0, None, float("inf"))
    bins, lobes, in_lobes = spectrum_lines(power, rel_threshold, max_lines,
                                           round(HALF_WIDTH_BINS * PAD))
    freqs = [b / nfft for b in bins.tolist()]
    fundamental, error = _fundamental(freqs, n, tolerance_bins, max_harmonic)
    return LineSpectrum(tuple(freqs), tuple(lobe / total for lobe in lobes.tolist()),
                        in_lobes / total, fundamental, error)


@lru_cache(maxsize=64)
def _hann(n: int) -> tuple[np.ndarray, float]:
    """Return the Hann taper of ``n`` samples without its zero end points, and its sum (read-only, cached)."""
    taper = np.hanning(n + 2)[1:-1]
    taper.setflags(write=False)
    return taper, float(taper.sum())


def _fundamental(freqs: list[float], n: int, tolerance_bins: float,
                 max_harmonic: int) -> tuple[float | None, float]:
    """Fit the common fundamental of the lines (least squares), and the worst misfit in bins.

    >>> _fundamental([0.125, 0.25, 0.375], 64, 0.3, 16)
    (0.125, 0.0)
    >>> _fundamental([0.1, 0.17], 100, 0.3, 16)[0] is None
    True
    """
    lines = [f for f in freqs if f * n >= 1.5]
    if not lines:
        return None, float("inf")
    lowest = min(lines)
    for divisor in (1, 2):
        f0 = lowest / divisor
        harmonics = [float(round(f / f0)) for f in lines]
        if max(harmonics) > max_harmonic:
            continue
        f0, error = _fitted(harmonics, lines, n)
        if error <= tolerance_bins:
            return f0, error
    # Report how far the lines are from harmonic of the lowest line.
    _, error = _fitted([max(float(round(f / lowest)), 1.0) for f in lines], lines, n)
    return None, error


def _fitted(harmonics: list[float], lines: list[float], n: int) -> tuple[float, float]:
    """Least-squares ``f0`` for lines at these harmonic numbers, and the worst misfit in bins."""
    f0 = math.fsum(m * f for m, f in zip(harmonics, lines, strict=True)) / math.fsum(
        m * m for m in harmonics)
    return f0, max(abs(f - m * f0) for m, f in zip(harmonics, lines, strict=True)) * n

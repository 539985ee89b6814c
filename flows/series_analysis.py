"""Temporal analysis of one stream's numeric series: regime, Lyapunov exponent, shape matches.

A :class:`SeriesAnalysis` holds what every stream shares (window sizes and the
shape templates); each stream keeps one :class:`SeriesState` per series
(inter-token latency, logprob), plain data that pickles for Bytewax recovery.

Findings become insights only when they say something new, so that a long
stream does not repeat itself every refresh:

* ``regime``: when the sliding classifier's confident verdict changes and the
  new verdict has held for ``regime_confirm`` refreshes in a row. The first held
  verdict is the stream's baseline: it is reported unless it is ``noise`` or
  ``fixed_point``, the normal states of a healthy latency series (the latest
  verdict is always in the end-of-stream summary);
* ``regime`` ``left_periodic`` / ``left_quasi_periodic``: a reported rhythm is
  lost (``regime_confirm`` refreshes in a row say otherwise, confidently or
  not) before the new regime is certain;
* ``lyapunov``: when the sliding exponent's state changes between
  ``chaotic`` (confidently positive), ``stable`` (confident, not positive) and
  ``uncertain``; a baseline of ``uncertain`` is not reported;
* ``shape``: every SPRING match of a template, once it is final.

Examples
--------
>>> analysis = SeriesAnalysis(regime_window=32, regime_every=4, lyapunov_window=0)
>>> state = analysis.new_state("itl")
>>> found = []
>>> for seq in range(64):
...     found += analysis.on_sample(state, [20.0, 35.0, 50.0, 35.0][seq % 4], seq)
>>> [(f.detector, f.kind) for f in found]
[('regime', 'periodic')]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from midstream.core.shapes_file import ShapeTemplate
from midstream.operators.lyapunov import LyapunovResult, SlidingLyapunov
from midstream.operators.regime import RegimeMonitor, RegimeResult
from midstream.operators.spring import Spring

QUIET_BASELINES = ("noise", "fixed_point")
"""Regimes not worth an insight when they are simply how a stream starts out."""

RHYTHMS = ("periodic", "quasi_periodic")
"""Reported regimes whose loss is flagged before the new regime is certain."""

QUIET_SLOWDOWN = 8
"""While the held regime is a quiet one, the classifier runs this many times less often.

Noise is the normal state of a healthy latency series, and classifying it is the
expensive case (surrogates); switches *out of* a periodic rhythm, which must be
caught within 50 samples, keep the full refresh rate.
"""

SEQ_BREAKS_KEPT = 32
"""Changes in ``seq - sample`` remembered per series, to map SPRING spans back to events."""


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a series analysis found, ready to become an insight."""

    detector: str
    kind: str
    severity: str
    at_seq: int
    detail: dict[str, Any]


@dataclass(slots=True)
class SeriesState:
    """One series of one stream. Plain data: it pickles."""

    name: str
    regime: RegimeMonitor | None
    lyapunov: SlidingLyapunov | None
    shapes: list[Spring]
    samples: int = 0
    seq_breaks: list[tuple[int, int]] = field(default_factory=list)
    """``(sample, seq - sample)`` wherever the offset changes (a gap, a non-delta event)."""
    regime_reported: str | None = None
    regime_candidate: str | None = None
    regime_streak: int = 0
    regime_off: int = 0
    """Refreshes in a row whose verdict differs from the reported regime."""
    regime_departed: bool = False
    lyapunov_reported: str | None = None
    last_regime: RegimeResult | None = None
    last_lyapunov: LyapunovResult | None = None
    shape_matches: int = 0
    skipped: int = 0
    """Non-finite samples left out."""


class SeriesAnalysis:
    """Settings shared by every stream's series analysis.

    Parameters
    ----------
    regime_window, regime_every
        The regime classifier sees the last ``regime_window`` samples, every
        ``regime_every`` samples. 0 turns it off.
    regime_confirm
        Refreshes in a row a new verdict must hold before it is reported.
    lyapunov_window, lyapunov_every
        The same for the largest Lyapunov exponent. 0 turns it off.
    lyapunov_emb_dim
        Embedding dimension of the sliding estimate; None chooses it per window by
        Cao's method, which costs up to ten times the estimate itself on noise.
    templates
        Shape templates; each applies to the series its ``series`` names.
    """

    def __init__(
        self,
        *,
        regime_window: int = 48,
        regime_every: int = 4,
        regime_confirm: int = 2,
        lyapunov_window: int = 300,
        lyapunov_every: int = 100,
        lyapunov_emb_dim: int | None = 3,
        templates: Sequence[ShapeTemplate] = (),
    ) -> None:
        if regime_window < 0 or lyapunov_window < 0:
            raise ValueError("window sizes must be >= 0 (0 turns an analysis off)")
        if regime_every < 1 or lyapunov_every < 1:
            raise ValueError("refresh intervals must be >= 1 sample")
        if regime_confirm < 1:
            raise ValueError("regime_confirm must be >= 1")
        self.regime_window = regime_window
        self.regime_every = regime_every
        self.regime_confirm = regime_confirm
        self.lyapunov_window = lyapunov_window
        self.lyapunov_every = lyapunov_every
        self.lyapunov_emb_dim = lyapunov_emb_dim
        self.templates = tuple(templates)
        self._templates: dict[str, tuple[ShapeTemplate, ...]] = {}
        for t in self.templates:
            self._templates[t.series] = (*self._templates.get(t.series, ()), t)

    @property
    def active(self) -> bool:
        """Whether any analysis is on (with all off, streams keep no series state)."""
        return bool(self.regime_window or self.lyapunov_window or self.templates)

    def warm_up(self) -> None:
        """Compile the numeric kernels now (numba compiles on first call), not during an event.

        Runs a chaotic series (the logistic map) through a private state, long
        enough for every analysis that is on to run at least twice. Findings
        are returned by :meth:`on_sample` only, so nothing is emitted or counted.

        Examples
        --------
        >>> SeriesAnalysis(regime_window=32, regime_every=4, lyapunov_window=0).warm_up()
        """
        if not self.active:
            return
        for series in {"warm-up", *(t.series for t in self.templates)}:
            state = self.new_state(series)
            samples = max(self.regime_window, self.lyapunov_window) + 2 * max(
                self.regime_every, self.lyapunov_every) + 64
            x = 0.3
            for seq in range(samples):
                x = 3.99 * x * (1.0 - x)
                self.on_sample(state, x, seq)

    def new_state(self, series: str) -> SeriesState:
        """Fresh state for one series of a new stream."""
        return SeriesState(
            name=series,
            regime=(RegimeMonitor(self.regime_window, self.regime_every)
                    if self.regime_window else None),
            lyapunov=(SlidingLyapunov(self.lyapunov_window, self.lyapunov_every,
                                      emb_dim=self.lyapunov_emb_dim)
                      if self.lyapunov_window else None),
            shapes=[Spring(t.query, t.threshold, window=t.window, znorm=t.znorm)
                    for t in self._templates.get(series, ())],
        )

    def on_sample(self, state: SeriesState, value: float, at_seq: int) -> list[Finding]:
        """Add one sample (from the event numbered ``at_seq``); return what is new.

        A non-finite value (a ``-inf`` logprob, an overflowed number) is skipped:
        the analyses need finite samples, and one bad value must not end a stream's
        analysis or the job.
        """
        found: list[Finding] = []
        if not math.isfinite(value):
            state.skipped += 1
            return found
        index = state.samples
        breaks = state.seq_breaks
        if not breaks or breaks[-1][1] != at_seq - index:
            breaks.append((index, at_seq - index))
            if len(breaks) > SEQ_BREAKS_KEPT:
                del breaks[0]
        state.samples += 1
        if state.regime is not None:
            verdict = state.regime.update(value)
            if verdict is not None:
                state.last_regime = verdict
                finding = self._held_regime(state, verdict, at_seq)
                if finding is not None:
                    found.append(finding)
        if state.lyapunov is not None:
            lle = state.lyapunov.update(value)
            if isinstance(lle, LyapunovResult):  # one sample in: one result or None
                state.last_lyapunov = lle
                label = lyapunov_label(lle)
                if label != state.lyapunov_reported:
                    if state.lyapunov_reported is not None or label != "uncertain":
                        found.append(self._lyapunov_finding(state, lle, label, at_seq))
                    state.lyapunov_reported = label
        if state.shapes:
            templates = self._templates[state.name]
            for template, spring in zip(templates, state.shapes, strict=True):
                for match in spring.update(value):
                    state.shape_matches += 1
                    found.append(self._shape_finding(state, template, match, at_seq))
        return found

    def on_end(self, state: SeriesState, at_seq: int) -> list[Finding]:
        """End the stream: a shape match still pending is now final."""
        found: list[Finding] = []
        templates = self._templates.get(state.name, ())
        for template, spring in zip(templates, state.shapes, strict=True):
            match = spring.flush()
            if match is not None:
                state.shape_matches += 1
                found.append(self._shape_finding(state, template, match, at_seq))
        return found

    def summary(self, state: SeriesState) -> dict[str, Any]:
        """Return the latest verdicts, for the end-of-stream summary."""
        out: dict[str, Any] = {"samples": state.samples}
        if state.skipped:
            out["skipped_non_finite"] = state.skipped
        if state.last_regime is not None:
            out["regime"] = regime_detail(state.last_regime)
        if state.last_lyapunov is not None:
            out["lyapunov"] = lyapunov_detail(state.last_lyapunov)
        if state.shapes:
            out["shape_matches"] = state.shape_matches
        return out

    # -- findings -------------------------------------------------------------------------

    def _held_regime(
        self, state: SeriesState, verdict: RegimeResult, at_seq: int
    ) -> Finding | None:
        departure = self._departure(state, verdict, at_seq)
        if not verdict.confident:
            state.regime_candidate, state.regime_streak = None, 0
            return departure
        if verdict.kind == state.regime_candidate:
            state.regime_streak += 1
        else:
            state.regime_candidate, state.regime_streak = verdict.kind, 1
        baseline = state.regime_reported is None
        # A quiet baseline is never reported, so one confident verdict settles it (and the
        # classifier slows down at once: most streams are short, and noise is the costly case).
        needed = 1 if baseline and verdict.kind in QUIET_BASELINES else self.regime_confirm
        if state.regime_streak != needed or verdict.kind == state.regime_reported:
            return departure
        if state.regime is not None:
            quiet = verdict.kind in QUIET_BASELINES
            state.regime.every = self.regime_every * (QUIET_SLOWDOWN if quiet else 1)
        finding = None
        if not (baseline and verdict.kind in QUIET_BASELINES):
            finding = self._regime_finding(state, verdict, at_seq)
        state.regime_reported = verdict.kind
        state.regime_departed = False
        state.regime_off = 0
        return finding or departure

    def _departure(self, state: SeriesState, verdict: RegimeResult, at_seq: int
                   ) -> Finding | None:
        """Flag a rhythm that is lost before the new regime is certain (``left_<regime>``).

        Windows that straddle a switch read as a mix (noise, quasi-periodic,
        chaotic, often not confidently), so the new regime can take a whole window
        to settle; the loss of a periodic rhythm is certain much sooner.
        """
        reported = state.regime_reported
        if reported not in RHYTHMS or state.regime_departed:
            return None
        if verdict.kind == reported:
            state.regime_off = 0
            return None
        state.regime_off += 1
        if state.regime_off < self.regime_confirm:
            return None
        state.regime_departed = True
        detail = regime_detail(verdict)
        detail.update(series=state.name, previous=reported, window=self.regime_window,
                      sample_index=state.samples - 1)
        return Finding("regime", f"left_{reported}", "warning", at_seq, detail)

    def _regime_finding(self, state: SeriesState, verdict: RegimeResult, at_seq: int) -> Finding:
        detail = regime_detail(verdict)
        detail.update(series=state.name, previous=state.regime_reported,
                      window=self.regime_window, sample_index=state.samples - 1)
        previous = state.regime_reported
        changed = previous is not None and (previous in RHYTHMS or verdict.kind == "chaotic")
        severity = "warning" if changed else "info"
        return Finding("regime", verdict.kind, severity, at_seq, detail)

    def _lyapunov_finding(
        self, state: SeriesState, lle: LyapunovResult, label: str, at_seq: int
    ) -> Finding:
        detail = lyapunov_detail(lle)
        detail.update(series=state.name, previous=state.lyapunov_reported,
                      window=self.lyapunov_window, sample_index=state.samples - 1)
        return Finding("lyapunov", label, "info", at_seq, detail)

    def _shape_finding(
        self, state: SeriesState, template: ShapeTemplate, match: Any, at_seq: int
    ) -> Finding:
        start_seq = _remembered_seq(state, match.start)
        end_seq = _remembered_seq(state, match.end)
        detail = {
            "series": state.name,
            "template": template.name,
            "start_sample": int(match.start),
            "end_sample": int(match.end),
            "start_seq": start_seq,
            "end_seq": end_seq,
            "distance": round(float(match.distance), 6),
            "threshold": template.threshold,
        }
        return Finding("shape", template.name, template.severity, at_seq, detail)


def _remembered_seq(state: SeriesState, sample: int) -> int | None:
    for first, offset in reversed(state.seq_breaks):
        if sample >= first:
            return sample + offset
    return None  # before the oldest break kept: the span is still given in samples


def lyapunov_label(lle: LyapunovResult) -> str:
    """``chaotic`` (confidently positive), ``stable`` (confident, not positive) or ``uncertain``.

    >>> from midstream.operators.lyapunov import LyapunovResult
    >>> lyapunov_label(LyapunovResult(0.7, 1, 2, (1, 8), 0.99, True))
    'chaotic'
    """
    if not lle.confident:
        return "uncertain"
    return "chaotic" if lle.value > 0 else "stable"


def regime_detail(verdict: RegimeResult) -> dict[str, Any]:
    """Return the JSON-ready numbers behind a regime verdict."""
    return {
        "kind": verdict.kind,
        "confident": bool(verdict.confident),
        "scores": {k: _json_number(v) for k, v in dict(verdict.scores).items()},
    }


def lyapunov_detail(lle: LyapunovResult) -> dict[str, Any]:
    """Return the JSON-ready numbers behind a Lyapunov estimate (value per sample)."""
    return {
        "value_per_sample": _json_number(lle.value),
        "confident": bool(lle.confident),
        "lag": int(lle.lag),
        "emb_dim": int(lle.emb_dim),
        "fit_range": [int(k) for k in lle.fit_range],
        "r2": _json_number(lle.r2),
    }


def _json_number(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    number = float(value)
    if not np.isfinite(number):
        return None
    return round(number, 6)

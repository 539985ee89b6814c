"""Checkpoint features: a bounded feature vector of a stream's prefix, from what its analysis keeps.

At a checkpoint (every N tokens, on an insight, at the end) the outcome
predictor sees the stream so far as hashed features
(:func:`midstream.operators.learning.hashing.hash_features`). Almost all of
them are read from the :class:`~midstream.flows.stream_analysis.state.StreamState`
the analysis keeps anyway; the rest, the spread of the inter-token latency and
a bag of the prefix's words, come from a small :class:`PrefixTrail` kept beside it.

Every feature, its key and its scale (values are of order 1, as FTRL's
per-coordinate learning rates expect; times as ``log1p`` of milliseconds):

==========================  ====================================================
key                         meaning
==========================  ====================================================
``ttft_log1p_ms``           time to the first token
``itl_mean_log1p_ms``       mean gap between tokens
``itl_std_log1p_ms``        standard deviation of that gap
``itl_max_log1p_ms``        longest gap
``stalls_log1p``            gaps longer than the stall threshold
``tokens_log1p``            tokens so far (the position in the stream)
``detections_log1p``        detections so far, all detectors
``checkpoint=<kind>``       ``tokens`` (every N), ``insight`` or ``end``
``model=<m>``               model name (``none`` when unknown)
``provider=<p>``            provider (``none`` when unknown)
``detection=<d>/<kind>``    one per detection so far (``rules/email_address``,
                            ``regime/periodic``...): repeats add up
``regime:<series>=<kind>``  the reported regime of ``itl`` and ``logprob``
``lyapunov:<series>=<v>``   the reported Lyapunov verdict of those series
``word=<w>``                ``log1p`` of the count of a lower-cased word of the
                            prefix; at most :data:`MAX_WORDS` distinct words
                            (the first ones seen), each cut to :data:`MAX_WORD_CHARS`
==========================  ====================================================

Examples
--------
>>> from midstream.flows.stream_analysis import StreamAnalyzer
>>> from midstream.core import events
>>> analyzer = StreamAnalyzer.with_defaults()
>>> state, trail = analyzer.new_state("s"), PrefixTrail()
>>> for seq, (ts, text) in enumerate([(0.0, None), (0.4, "Hello"), (0.45, " wor"),
...                                   (0.5, "ld, hello!")]):
...     kind = "start" if text is None else "delta"
...     event = events.TokenEvent(v=1, stream_id="s", seq=seq, ts=ts, kind=kind, text=text)
...     _ = analyzer.on_event(state, event, now=ts)
...     trail.on_event(event, state)
>>> sorted(trail.words.items())
[('hello', 2), ('world', 1)]
>>> x = checkpoint_features(state, trail, "tokens", bits=16)
>>> len(x.indices) == len(x.values) and int(x.indices[0]) == 0
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from midstream.core import events, snapshots
from midstream.flows.stream_analysis.state import StreamState
from midstream.operators.learning.hashing import DEFAULT_BITS, HashedFeatures, hash_features
from midstream.operators.learning.scaling import RunningStandardizer

__all__ = ["CHECKPOINTS", "MAX_WORDS", "MAX_WORD_CHARS", "PrefixTrail", "checkpoint_features"]

CHECKPOINTS = ("tokens", "insight", "end")
"""The kinds of checkpoint at which the predictor sees a stream."""

MAX_WORDS = 64
"""Distinct words a stream's bag keeps: later new words are counted in ``words_dropped``."""

MAX_WORD_CHARS = 24
"""Words are cut to this many characters (a word is a run of letters and digits)."""

_WORD = re.compile(r"\w+")  # one pass, linear in the text whatever it holds
_ENDS_IN_WORD = re.compile(r"\w\Z")


@dataclass(slots=True)
class PrefixTrail:
    """What the learner keeps of one stream besides its analysis state: bounded, it pickles.

    The gaps' running mean and spread (Welford's method), and a bag of the
    prefix's lower-cased words. A word split across two deltas (``" wor"``,
    ``"ld"``) is counted once, whole: the trailing partial word waits for the
    next delta (at most :data:`MAX_WORD_CHARS` characters of it).
    """

    seq: int = -1
    """The latest event applied (the trail follows only events the analysis applied)."""
    last_token_ts: float | None = None
    gaps: int = 0
    gap_mean_s: float = 0.0
    gap_m2: float = 0.0
    words: dict[str, int] = field(default_factory=dict)
    words_dropped: int = 0
    pending: str = ""
    """The end of the text so far when it may be the start of a word."""

    def __setstate__(self, state: tuple[Any, dict[str, Any] | None]) -> None:
        snapshots.set_fields(self, state)

    def on_event(self, event: events.TokenEvent, state: StreamState) -> None:
        """Update from an event just given to the analysis of ``state``'s stream.

        Events the analysis did not apply (a duplicate, one after the end) are
        ignored: the analysis then left ``state.last_seq`` as it was.
        """
        if event.seq != state.last_seq or event.seq <= self.seq:
            return
        self.seq = event.seq
        if event.kind == "delta":
            if self.last_token_ts is not None:
                self.on_gap(event.ts - self.last_token_ts)
            self.last_token_ts = event.ts
            if event.text:
                self.on_text(event.text)
        elif event.kind == "end":
            self._flush()

    def on_gap(self, gap_s: float) -> None:
        """Add one inter-token gap, in seconds (non-finite or negative gaps are left out)."""
        if not (math.isfinite(gap_s) and gap_s >= 0.0):
            return
        self.gaps += 1
        delta = gap_s - self.gap_mean_s
        self.gap_mean_s += delta / self.gaps
        self.gap_m2 += delta * (gap_s - self.gap_mean_s)

    def on_text(self, text: str) -> None:
        """Add a piece of the stream's text to the bag of words."""
        joined = self.pending + text
        words = _WORD.findall(joined.lower())
        # The last word may go on in the next piece: keep it back unless a separator ends it.
        if words and _ENDS_IN_WORD.search(joined):
            self.pending = words.pop()[:MAX_WORD_CHARS]
        else:
            self.pending = ""
        for word in words:
            self._count(word)

    @property
    def gap_std_s(self) -> float:
        """Standard deviation of the gaps so far (0 with fewer than two)."""
        return math.sqrt(self.gap_m2 / (self.gaps - 1)) if self.gaps > 1 else 0.0

    def _flush(self) -> None:
        if self.pending:
            self._count(self.pending.lower())
            self.pending = ""

    def _count(self, word: str) -> None:
        word = word[:MAX_WORD_CHARS]
        count = self.words.get(word)
        if count is not None:
            self.words[word] = count + 1
        elif len(self.words) < MAX_WORDS:
            self.words[word] = 1
        else:
            self.words_dropped += 1


def checkpoint_features(state: StreamState, trail: PrefixTrail, checkpoint: str, *,
                        bits: int = DEFAULT_BITS,
                        scaler: RunningStandardizer | None = None) -> HashedFeatures:
    """Return the hashed feature vector of ``state``'s stream at a checkpoint.

    Parameters
    ----------
    state, trail
        The stream's analysis state and its :class:`PrefixTrail`.
    checkpoint
        One of :data:`CHECKPOINTS`.
    bits
        The vector has ``2**bits`` slots, as the learner's.
    scaler
        Standardises the health numbers (not the words) by their running mean and
        spread, and learns from them; the learner should use one (an uncentred
        ``ttft_log1p_ms`` of about 6 acts as a second bias: ``bench.outcome_prediction``).

    Raises
    ------
    ValueError
        If ``checkpoint`` is not one of :data:`CHECKPOINTS`.
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    health = state.health
    numeric: dict[str, float] = {
        "tokens_log1p": math.log1p(health.tokens),
        "stalls_log1p": math.log1p(health.stalls),
        "detections_log1p": math.log1p(len(state.detections) + state.detections_dropped),
    }
    ttft = health.time_to_first_token
    if ttft is not None:
        numeric["ttft_log1p_ms"] = _log1p_ms(ttft)
    if trail.gaps:
        numeric["itl_mean_log1p_ms"] = _log1p_ms(trail.gap_mean_s)
        numeric["itl_std_log1p_ms"] = _log1p_ms(trail.gap_std_s)
        numeric["itl_max_log1p_ms"] = _log1p_ms(health.longest_gap)
    if scaler is not None:
        numeric = scaler.transform_one(numeric)
    for word, count in trail.words.items():
        numeric["word=" + word] = math.log1p(count)
    categorical: dict[str, str | list[str]] = {
        "checkpoint": checkpoint,
        "model": state.model or "none",
        "provider": state.provider or "none",
        "detection": [f"{d.detector}/{d.kind}" for d in state.detections],
    }
    for name, series in state.series.items():
        if series.regime_reported is not None:
            categorical["regime:" + name] = series.regime_reported
        if series.lyapunov_reported is not None:
            categorical["lyapunov:" + name] = series.lyapunov_reported
    return hash_features(numeric, categorical, bits=bits)


def _log1p_ms(seconds: float) -> float:
    return math.log1p(max(seconds, 0.0) * 1000.0) if math.isfinite(seconds) else 0.0

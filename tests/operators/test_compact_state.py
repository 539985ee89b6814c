"""The detectors with ring buffers pickle compactly, resume identically, and read old pickles."""

from __future__ import annotations

import copyreg
import io
import pickle
from typing import Any

import numpy as np

from midstream.operators.lyapunov import SlidingLyapunov
from midstream.operators.regime import RegimeMonitor
from midstream.operators.repetition import RepetitionDetector


def _old_style_pickle(obj: Any) -> bytes:
    """Pickle as before the compact format: the attribute dict, arrays and all."""
    cls = type(obj)
    reduced = (copyreg.__newobj__, (cls,), dict(obj.__dict__))  # type: ignore[attr-defined]
    table = {cls: lambda o: reduced}

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.dispatch_table = table  # type: ignore[assignment]
    pickler.dump(obj)
    return buffer.getvalue()


Detectors = tuple[RepetitionDetector, RegimeMonitor, SlidingLyapunov]


def _fed(values: np.ndarray) -> Detectors:
    loop, regime, lyapunov = RepetitionDetector(), RegimeMonitor(48, 4), SlidingLyapunov(100, 50)
    for i, value in enumerate(values.tolist()):
        loop.update(f"w{i % 7}")
        regime.update(value)
        lyapunov.update(value)
    return loop, regime, lyapunov


def _continue(detectors: Detectors, values: np.ndarray) -> list[Any]:
    loop, regime, lyapunov = detectors
    out: list[Any] = []
    for i, value in enumerate(values.tolist()):
        out.append(loop.update(f"w{i % 7}"))
        result = regime.update(value)
        out.append(None if result is None else result.kind)
        estimate = lyapunov.update(value)
        out.append(None if estimate is None else repr(round(estimate.value, 9)))  # type: ignore[union-attr]
    return out


def test_round_trip_mid_stream_resumes_identically() -> None:
    rng = np.random.default_rng(5)
    head, tail = rng.normal(size=130), rng.normal(size=120)
    original = _fed(head)
    twins: Detectors = pickle.loads(pickle.dumps(original, protocol=5))
    assert _continue(twins, tail) == _continue(original, tail)


def test_old_pickles_restore_and_resume_identically() -> None:
    rng = np.random.default_rng(6)
    head, tail = rng.normal(size=90), rng.normal(size=120)
    original = _fed(head)
    old = [_old_style_pickle(d) for d in original]
    assert all(b"numpy" in raw for raw in old)  # the arrays really are pickled the old way
    twins: Detectors = tuple(pickle.loads(raw) for raw in old)  # type: ignore[assignment]
    assert _continue(twins, tail) == _continue(original, tail)


def test_compact_pickles_are_smaller_and_hold_no_numpy_objects() -> None:
    for detector in _fed(np.random.default_rng(7).normal(size=80)):
        compact = pickle.dumps(detector, protocol=5)
        assert len(compact) < len(_old_style_pickle(detector))
        assert b"_reconstruct" not in compact

"""Outcome prediction on the simulator with ground truth (issue 12): our FTRL against its peers.

Each simulated stream (:mod:`midstream.cli.outcome_simulator`) runs through the
real per-stream analysis, a :class:`~midstream.flows.learning.features.PrefixTrail`
and :func:`~midstream.flows.learning.features.checkpoint_features`, with a
checkpoint every 8 tokens and one at the end. Prequentially: the learners
predict at every checkpoint; when a stream's label arrives (after its feedback
delay) they learn from all its checkpoints.

Scored on each stream's last checkpoint before its end, and separately on its
end checkpoint, in three windows of streams: the last 2,000 before the drift;
the first 1,000 after it; and the 1,000 streams from the moment the 1,000th
post-drift label has arrived (the issue's "at most 1,000 labelled streams
after"). Rows: our ``FTRLProximal``; river's ``LogisticRegression`` with its
``FTRLProximal`` optimizer and the same hyperparameters, on the same hashed
features; a rules-only score (1 once any text rule, stall or loop stop fired);
the batch optimum in hindsight, an L2 logistic regression (Newton/IRLS, the used
hash slots as dense columns) fitted on the window's own streams and evaluated on
them; and the simulator's true probability, the ceiling.

Lead time: for streams that end badly, the fraction of the stream (in tokens)
still to go at the first checkpoint where our risk reaches the threshold (0.5
by default, ``--threshold``); streams never flagged count as 0.

    python -m bench.outcome_prediction --streams 6000 --seed 0
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from midstream.cli.outcome_simulator import SimulatedStream, SimulatorConfig, simulate
from midstream.flows.learning.features import PrefixTrail, checkpoint_features
from midstream.flows.stream_analysis import StreamAnalyzer
from midstream.operators.learning.drift_response import DriftResponse
from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import HashedFeatures
from midstream.operators.learning.learning_rate_grid import LearningRateGrid
from midstream.operators.learning.metrics import expected_calibration_error, log_loss, roc_auc
from midstream.operators.learning.scaling import RunningStandardizer

BITS = 18
EVERY_TOKENS = 8
PRE_WINDOW = 2000
POST_WINDOW = 1000
RIDGE = 1.0


@dataclass
class Checkpoint:
    x: HashedFeatures
    tokens: int
    ours: float
    river: float
    rules: float


@dataclass
class Scored:
    """What is kept of one stream for scoring."""

    sim: SimulatedStream
    tokens: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)


def run(sims: list[SimulatedStream], ours: FTRLProximal | LearningRateGrid | DriftResponse,
        river_model: Any,
        scaler: RunningStandardizer | None) -> list[Scored]:
    analyzer = StreamAnalyzer.with_defaults()
    pending: dict[int, list[Scored]] = defaultdict(list)
    scored: list[Scored] = []
    for sim in sims:
        for done in pending.pop(sim.index, []):
            label = float(done.sim.bad)
            if not isinstance(ours, FTRLProximal):
                ours.learn_stream([(c.x.indices, c.x.values) for c in done.checkpoints], label)
                if isinstance(ours, DriftResponse) and ours.drift_detected:
                    print(f"drift alarm when the label of stream {done.sim.index} arrived "
                          f"(stream {sim.index} starting)")
            for c in done.checkpoints:
                if isinstance(ours, FTRLProximal):
                    ours.learn_one(c.x.indices, c.x.values, label)
                river_model.learn_one(_as_dict(c.x), done.sim.bad)
        state, trail, fired = analyzer.new_state(sim.stream_id), PrefixTrail(), False
        record = Scored(sim)
        for event in sim.events:
            outputs = analyzer.on_event(state, event, event.ts)
            trail.on_event(event, state)
            fired = fired or any(kind == "control" for kind, _ in outputs)
            fired = fired or state.health.stalls > 0 or any(
                d.detector == "rules" for d in state.detections)
            tokens = state.health.tokens
            if event.kind == "end":
                record.tokens = tokens
                record.checkpoints.append(_checkpoint(state, trail, "end", tokens, fired, ours, scaler,
                                                      river_model))
            elif event.kind == "delta" and tokens % EVERY_TOKENS == 0:
                record.checkpoints.append(_checkpoint(state, trail, "tokens", tokens, fired, ours, scaler,
                                                      river_model))
        scored.append(record)
        pending[sim.label_at].append(record)
    return scored


def _checkpoint(state: Any, trail: PrefixTrail, kind: str, tokens: int, fired: bool,
                ours: FTRLProximal | LearningRateGrid | DriftResponse,
                scaler: RunningStandardizer | None,
                river_model: Any) -> Checkpoint:
    x = checkpoint_features(state, trail, kind, bits=BITS, scaler=scaler)
    return Checkpoint(x, tokens, ours.predict_one(x.indices, x.values),
                      river_model.predict_proba_one(_as_dict(x))[True], float(fired))


def _as_dict(x: HashedFeatures) -> dict[int, float]:
    return dict(zip(x.indices.tolist(), x.values.tolist(), strict=True))


def batch_optimum(xs: list[HashedFeatures], y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Fit an L2 logistic regression by Newton/IRLS on the slots ``xs`` use; return its p on ``xs``."""
    slots = np.unique(np.concatenate([x.indices for x in xs]))
    column = {int(s): i for i, s in enumerate(slots)}
    dense = np.zeros((len(xs), slots.size))
    for row, x in enumerate(xs):
        dense[row, [column[int(s)] for s in x.indices]] = x.values
    w = np.zeros(slots.size)
    penalty = ridge * np.eye(slots.size)
    penalty[column[0], column[0]] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-dense @ w))
        gradient = dense.T @ (p - y) + penalty @ w
        hessian = (dense * (p * (1.0 - p))[:, None]).T @ dense + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return 1.0 / (1.0 + np.exp(-dense @ w))


def windows(scored: list[Scored], drift: int) -> dict[str, list[Scored]]:
    post = [s for s in scored if s.sim.index >= drift]
    arrivals = sorted(s.sim.label_at for s in post)
    recovered = arrivals[POST_WINDOW - 1] if len(arrivals) >= POST_WINDOW else len(scored)
    return {
        f"last {PRE_WINDOW} pre-drift": [s for s in scored if drift - PRE_WINDOW <= s.sim.index < drift],
        f"first {POST_WINDOW} post-drift": post[:POST_WINDOW],
        f"after {POST_WINDOW} post labels": [s for s in post if s.sim.index >= recovered][:POST_WINDOW],
    }


def pick(record: Scored, checkpoint: str) -> Checkpoint:
    if checkpoint == "end":
        return record.checkpoints[-1]
    return record.checkpoints[-2] if len(record.checkpoints) > 1 else record.checkpoints[-1]


def lead_fraction(record: Scored, threshold: float) -> float:
    for c in record.checkpoints[:-1]:
        if c.ours >= threshold:
            return 1.0 - c.tokens / max(record.tokens, 1)
    return 0.0


def report(scored: list[Scored], drift: int, threshold: float) -> None:
    chosen = {name: w for name, w in windows(scored, drift).items() if w}
    names = list(chosen)
    print(f"{'':<28}" + "".join(f"{n:>28}" for n in names))
    print(f"{'streams (first..last index)':<28}" + "".join(
        f"{f'{len(w)} ({w[0].sim.index}..{w[-1].sim.index})':>28}" for w in chosen.values()))
    for checkpoint, title in (("tokens", "last checkpoint before the end"), ("end", "end checkpoint")):
        print(f"\n{title}: AUC / log loss / ECE")
        rows: dict[str, list[str]] = defaultdict(list)
        for window in chosen.values():
            y = np.array([float(s.sim.bad) for s in window])
            picked = [pick(s, checkpoint) for s in window]
            scores = {
                "ours": np.array([c.ours for c in picked]),
                "river: LogReg(FTRLProximal)": np.array([c.river for c in picked]),
                "rules only (0/1)": np.array([c.rules for c in picked]),
                "batch optimum (hindsight)": batch_optimum([c.x for c in picked], y),
                "true probability": np.array([s.sim.p_bad for s in window]),
            }
            for name, p in scores.items():
                if name.startswith("rules"):
                    rows[name].append(f"{roc_auc(p, y):.3f}      -      -")
                else:
                    rows[name].append(f"{roc_auc(p, y):.3f}  {log_loss(p, y):.3f}  "
                                      f"{expected_calibration_error(p, y):.3f}")
        for name, cells in rows.items():
            print(f"{name:<28}" + "".join(f"{cell:>28}" for cell in cells))
    print(f"\nlead time (ours, risk >= {threshold}): median fraction of a bad stream still to go")
    for name, window in chosen.items():
        bad = [s for s in window if s.sim.bad]
        leads = [lead_fraction(s, threshold) for s in bad]
        flagged = sum(1 for v in leads if v > 0.0)
        print(f"  {name:<28} {np.median(leads) if leads else math.nan:6.1%}  "
              f"({flagged}/{len(bad)} bad streams flagged before the end; median among flagged "
              f"{np.median([v for v in leads if v > 0]) if flagged else math.nan:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--raw-features", action="store_true",
                        help="leave the health numbers unscaled (no RunningStandardizer)")
    parser.add_argument("--no-drift-response", action="store_true",
                        help="ours without DriftResponse (the grid alone)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="one FTRL learning-rate scale for ours and river's; by default ours "
                             "is a DriftResponse over a LearningRateGrid of DEFAULT_ALPHAS and "
                             "river's gets 0.05")
    args = parser.parse_args()
    from river import linear_model, optim

    config = SimulatorConfig(streams=args.streams, seed=args.seed)
    started = time.perf_counter()
    sims = list(simulate(config))
    ours: FTRLProximal | LearningRateGrid | DriftResponse
    if args.alpha is None and args.no_drift_response:
        ours, alpha = LearningRateGrid(BITS), 0.05
    elif args.alpha is None:
        ours, alpha = DriftResponse(BITS), 0.05
    else:
        ours, alpha = FTRLProximal(BITS, alpha=args.alpha), args.alpha
    river_model = linear_model.LogisticRegression(optimizer=optim.FTRLProximal(
        alpha=alpha, beta=1.0, l1=0.0, l2=1.0))
    scored = run(sims, ours, river_model, None if args.raw_features else RunningStandardizer())
    events = sum(len(s.events) for s in sims)
    bad = sum(s.bad for s in sims)
    print(f"{len(sims)} streams, {events} events, {bad / max(len(sims), 1):.1%} bad, drift at "
          f"{config.drift_index}, mean feedback delay {config.mean_feedback_delay:g} streams, "
          f"seed {args.seed}; {time.perf_counter() - started:.0f} s\n")
    report(scored, config.drift_index, args.threshold)
    if isinstance(ours, DriftResponse):
        print(f"\ndrift response: {ours.alarms} alarms (each refreshed the learning rates)")


if __name__ == "__main__":
    main()

"""Online outcome predictor: cost and prequential accuracy of our FTRL against river's, same examples.

A seeded synthetic stream from a known logistic model stands in for the
checkpoints of LLM answers: eight health numbers, model, provider and regime
(categorical), counts of a few of 60 detection rules, and a bag of 25 words
from a Zipf vocabulary of 5,000 (one word in ten carries weight), about 40
active features per example. Every learner predicts each example before
learning from it (test, then train); the true model's own probabilities are
the ceiling.

    python -m bench.online_learners --examples 20000

Peers (river 0.26.1, ``pip install river==0.26.1``): ``LogisticRegression`` with
river's ``FTRLProximal`` optimizer and the same hyperparameters, on the same
features as a dict (river needs no hashing); river's usual pipeline,
``StandardScaler() | LogisticRegression()`` (plain SGD); and river's
``drift.PageHinkley`` and ``drift.ADWIN`` next to our Page–Hinkley.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from midstream.operators.learning.drift import PageHinkley
from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import DEFAULT_BITS, HashedFeatures, hash_features
from midstream.operators.learning.metrics import expected_calibration_error, log_loss, roc_auc

HEALTH = ("ttft_s", "itl_mean_s", "itl_p95_s", "itl_std_s", "stalls", "position",
          "tokens_per_s", "loop_score")


@dataclass(frozen=True)
class Example:
    numeric: dict[str, float]
    categorical: dict[str, str | list[str]]
    label: int
    true_p: float

    def as_dict(self) -> dict[str, float]:
        """The same features as one flat dict, the way river takes them."""
        flat = dict(self.numeric)
        for name, chosen in self.categorical.items():
            for value in [chosen] if isinstance(chosen, str) else chosen:
                key = f"{name}={value}"
                flat[key] = flat.get(key, 0.0) + 1.0
        return flat


def synthetic_stream(n: int, seed: int = 0) -> list[Example]:
    """Examples drawn from a fixed logistic model (its weights drawn from the same seed)."""
    rng = np.random.default_rng(seed)
    health_w = rng.normal(0.0, 0.6, len(HEALTH))
    model_w = rng.normal(0.0, 0.5, 30)
    provider_w = rng.normal(0.0, 0.3, 6)
    regime_w = np.array([0.0, 0.2, 0.4, 1.0, -0.3])
    rule_w = rng.normal(0.3, 0.4, 60)
    vocab = 5000
    word_w = np.where(rng.random(vocab) < 0.1, rng.normal(0.0, 0.8, vocab), 0.0)
    zipf = 1.0 / np.arange(1, vocab + 1)
    zipf /= zipf.sum()
    bias = -4.0
    examples = []
    for _ in range(n):
        health = rng.normal(0.0, 1.0, len(HEALTH))
        model, provider, regime = int(rng.integers(30)), int(rng.integers(6)), int(rng.integers(5))
        rules = rng.choice(60, size=3, replace=False)
        counts = rng.poisson(1.0, 3)
        words = rng.choice(vocab, size=25, p=zipf)
        margin = (bias + health @ health_w + model_w[model] + provider_w[provider]
                  + regime_w[regime] + counts @ rule_w[rules] + word_w[words].sum())
        p = 1.0 / (1.0 + math.exp(-margin))
        numeric = dict(zip(HEALTH, health.tolist(), strict=True))
        numeric.update({f"rule:{r}": float(c) for r, c in zip(rules, counts, strict=True) if c})
        categorical: dict[str, str | list[str]] = {
            "model": f"m{model}", "provider": f"p{provider}", "regime": f"r{regime}",
            "word": [f"w{w}" for w in words]}
        examples.append(Example(numeric, categorical, int(rng.random() < p), p))
    return examples


def timed(run: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeats`` runs, and the last run's result."""
    best, result = math.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def scores(p: list[float], labels: list[int]) -> str:
    half = len(p) // 2
    return (f"{log_loss(p, labels):8.4f} {log_loss(p[half:], labels[half:]):9.4f} "
            f"{roc_auc(p, labels):7.4f} {roc_auc(p[half:], labels[half:]):8.4f} "
            f"{expected_calibration_error(p[half:], labels[half:]):7.4f}")


def numpy_learn(z: np.ndarray, n: np.ndarray, indices: np.ndarray, values: np.ndarray, label: float,
                alpha: float, beta: float, l1: float, l2: float) -> float:
    """The FTRL step as NumPy array operations: the alternative to the numba kernel."""
    zi, ni = z[indices], n[indices]
    w = -np.sign(zi) * np.maximum(np.abs(zi) - l1, 0.0) / ((beta + np.sqrt(ni)) / alpha + l2)
    p = 1.0 / (1.0 + math.exp(-min(max(float(w @ values), -35.0), 35.0)))
    g = (p - label) * values
    sigma = (np.sqrt(ni + g * g) - np.sqrt(ni)) / alpha
    z[indices] = zi + g - sigma * w
    n[indices] = ni + g * g
    return p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--bits", type=int, default=DEFAULT_BITS)
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--l1", type=float, default=0.0)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    examples = synthetic_stream(args.examples, args.seed)
    labels = [e.label for e in examples]
    n = len(examples)
    hashed_len = np.mean([len(hash_features(e.numeric, e.categorical, bits=args.bits).indices)
                          for e in examples[:1000]])
    print(f"{n} examples, {hashed_len:.1f} active hashed features each (bias included), "
          f"{np.mean(labels):.1%} positive; bits={args.bits}, alpha={args.alpha}, beta={args.beta}, "
          f"l1={args.l1}, l2={args.l2}; best of 3 runs\n")

    hash_s, hashed = timed(lambda: [hash_features(e.numeric, e.categorical, bits=args.bits)
                                    for e in examples])
    ours = _ours(args, hashed, labels)
    numpy_s, _ = timed(lambda: _numpy_pass(args, hashed, labels), repeats=1)
    print(f"{'cost per example':<44} {'µs':>8}")
    print(f"{'  hash_features (~40 keys)':<44} {hash_s / n * 1e6:8.2f}")
    print(f"{'  FTRLProximal.predict_one':<44} {ours['predict_s'] / n * 1e6:8.2f}")
    print(f"{'  FTRLProximal.learn_one':<44} {ours['learn_s'] / n * 1e6:8.2f}")
    print(f"{'  the same step as NumPy array operations':<44} {numpy_s / n * 1e6:8.2f}")
    state = ours["state_bytes"]
    print(f"{'  pickle of the trained model':<44} {state / 1e3:8.1f} kB "
          f"(dense arrays: {2 * 8 * 2 ** args.bits / 1e6:.1f} MB); "
          f"dumps {ours['pickle_s'] * 1e3:.2f} ms, loads {ours['unpickle_s'] * 1e3:.2f} ms")

    print(f"\n{'prequential':<44} {'logloss':>8} {'(2nd half)':>9} {'AUC':>7} {'(2nd half)':>8} "
          f"{'ECE 2nd':>7} {'µs/example':>11}")
    print(f"{'true model (ceiling)':<44} {scores([e.true_p for e in examples], labels)}")
    print(f"{'ours: FTRLProximal (hashed)':<44} {scores(ours['p'], labels)} "
          f"{(hash_s + ours['learn_s']) / n * 1e6:11.2f}")
    for label, p, seconds in _river_learners(args, examples):
        print(f"{label:<44} {scores(p, labels)} {seconds / n * 1e6:11.2f}")
    _drift()


def _ours(args: argparse.Namespace, hashed: list[HashedFeatures], labels: list[int]) -> dict[str, Any]:
    import pickle

    def train() -> tuple[FTRLProximal, list[float]]:
        model = FTRLProximal(args.bits, alpha=args.alpha, beta=args.beta, l1=args.l1, l2=args.l2)
        return model, [model.learn_one(i, v, y) for (i, v), y in zip(hashed, labels, strict=True)]

    train()  # compile the kernels
    learn_s, (model, p) = timed(train)
    predict_s, _ = timed(lambda: [model.predict_one(i, v) for i, v in hashed])
    pickle_s, state = timed(lambda: pickle.dumps(model))
    unpickle_s, _ = timed(lambda: pickle.loads(state))
    return {"learn_s": learn_s, "predict_s": predict_s, "p": p, "state_bytes": len(state),
            "pickle_s": pickle_s, "unpickle_s": unpickle_s}


def _numpy_pass(args: argparse.Namespace, hashed: list[HashedFeatures], labels: list[int]) -> list[float]:
    size = 1 << args.bits
    z, n = np.zeros(size), np.zeros(size)
    return [numpy_learn(z, n, i, v, float(y), args.alpha, args.beta, args.l1, args.l2)
            for (i, v), y in zip(hashed, labels, strict=True)]


def _river_learners(args: argparse.Namespace,
                    examples: list[Example]) -> list[tuple[str, list[float], float]]:
    try:
        from river import linear_model, optim, preprocessing
    except ImportError:
        print("(river is not installed: pip install river==0.26.1 for the peers)")
        return []
    dicts = [e.as_dict() for e in examples]
    labels = [bool(e.label) for e in examples]
    makers: dict[str, Callable[[], Any]] = {
        "river: LogisticRegression(FTRLProximal)": lambda: linear_model.LogisticRegression(
            optimizer=optim.FTRLProximal(alpha=args.alpha, beta=args.beta, l1=args.l1, l2=args.l2)),
        "river: StandardScaler | LogisticRegression": lambda: (
            preprocessing.StandardScaler() | linear_model.LogisticRegression()),
    }
    results = []
    for label, make in makers.items():
        def run(make: Callable[[], Any] = make) -> list[float]:
            model = make()
            p = []
            for x, y in zip(dicts, labels, strict=True):
                p.append(model.predict_proba_one(x)[True])
                model.learn_one(x, y)
            return p
        seconds, p = timed(run, repeats=1)
        results.append((label, p, seconds))
    return results


def _drift() -> None:
    """Per-value cost and alarms of Page–Hinkley (ours, river's) and river's ADWIN."""
    rng = np.random.default_rng(5)
    stationary = rng.normal(0.5, 0.3, 20_000).tolist()
    shifted = stationary[:10_000] + rng.normal(0.8, 0.3, 10_000).tolist()
    detectors: dict[str, Callable[[], Any]] = {"ours: PageHinkley": PageHinkley}
    try:
        from river import drift
        detectors.update({"river: drift.PageHinkley": drift.PageHinkley, "river: drift.ADWIN": drift.ADWIN})
    except ImportError:
        pass
    print(f"\n{'drift detectors, defaults, N(0.5, 0.3) values':<44} {'µs/update':>9} "
          f"{'alarms (stationary)':>20} {'first alarm after shift at 10,000':>34}")
    for label, make in detectors.items():
        def alarms(values: list[float], make: Callable[[], Any] = make) -> list[int]:
            detector = make()
            found = []
            for i, x in enumerate(values):
                detector.update(x)
                if detector.drift_detected:
                    found.append(i)
            return found
        seconds, quiet = timed(partial(alarms, stationary))
        after = [i for i in alarms(shifted) if i >= 10_000]
        print(f"{label:<44} {seconds / len(stationary) * 1e6:9.2f} {len(quiet):20d} "
              f"{after[0] if after else 'none':>34}")


if __name__ == "__main__":
    main()

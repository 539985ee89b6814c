"""The action policy as a contextual bandit: cumulative regret, recovery after a drift, off-policy value.

Issue 12, item 4. At a checkpoint of a streaming answer the policy picks one of
``none``, ``flag``, ``escalate``, ``stop``; the reward depends on whether the stream
would have ended badly. This runs every policy on the same synthetic stream of
decisions and prints one table.

    python -m bench.action_policy                       # 20,000 decisions, 3 seeds
    python -m bench.action_policy --decisions 4000 --seeds 1

Environment
-----------
A context is the behaviour features of :mod:`midstream.cli.outcome_simulator` seen
at the checkpoint: ``slow_start`` (p = 0.2), ``refusal`` (0.1), ``late_stall`` (0.15),
``late_loop`` (0.1), each 0 or 1, and ``rambling``, uniform on ``[0, 1]``. The true
P(bad) is ``sigmoid(bias + w . x)`` with the weights of :data:`WEIGHTS_BEFORE` for
the first half of the decisions and :data:`WEIGHTS_AFTER` from the middle on (the
drift: other signals predict failure). ``bad ~ Bernoulli(P(bad))`` and the reward is

    action     good   bad    expected, p = P(bad)   best when
    none       +1.0   -1.0   1.0 - 2.0 p            p < 1/6
    flag       +0.9   -0.5   0.9 - 1.4 p            1/6 < p < 4/9
    escalate   +0.5    0.0   0.5 - 0.5 p            4/9 < p < 3/4
    stop       -1.0   +0.5   -1.0 + 1.5 p           p > 3/4

(stopping a bad stream saves its tokens and its harm; stopping a good one loses the
answer; flagging and escalating cost a little, and buy part of the gain). Regret is
expected: the best action's expected reward under the true P(bad) minus the chosen
action's, summed over the decisions.

Policies
--------
``uniform`` random; ``eps-greedy`` (epsilon 0.1, the same per-action FTRL regressions
as SquareCB, same alpha); ``LinUCB`` (alpha 0.5, dense context ``[1, x]``); Vowpal Wabbit 9.11
``--cb_explore_adf -q sa`` (its default exploration, epsilon-greedy 0.05) and with
``--squarecb``, if ``vowpalwabbit`` is installed (costs = -reward); ``SquareCB``, ours.

Recovery after the drift: ``L`` is the policy's mean regret per decision over the
2,000 decisions before the drift (seeds averaged); recovery is the least ``n`` such
that the mean regret over decisions ``[drift + n, drift + n + 500)`` is at most
``1.1 L + 0.005`` (the 0.005 keeps a near-zero ``L`` from demanding the impossible),
checked every 50 decisions.

Off-policy value: SquareCB, frozen at the end of its run, is evaluated on a fresh log
of the post-drift environment in which a uniform policy chose (propensity 1/4), by
IPS, SNIPS and DR (its own scores as the reward model) of
:mod:`midstream.operators.learning.off_policy`; its true value is the mean over the
same contexts of ``sum_a pi(a | x) E[r | x, a]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from midstream.operators.learning.ftrl import FTRLProximal
from midstream.operators.learning.hashing import HashedFeatures, hash_features
from midstream.operators.learning.linucb import LinUCB
from midstream.operators.learning.off_policy import doubly_robust, ips, snips
from midstream.operators.learning.squarecb import DEFAULT_ALPHA, DEFAULT_GAMMA, SquareCB

ACTIONS = ("none", "flag", "escalate", "stop")
FEATURES = ("slow_start", "refusal", "late_stall", "late_loop", "rambling")
RATES = (0.2, 0.1, 0.15, 0.1)
#: Reward of each action (rows, in ACTIONS order) if the stream ends good (column 0) or bad.
REWARDS = np.array([[1.0, -1.0], [0.9, -0.5], [0.5, 0.0], [-1.0, 0.5]])
#: (bias, weights in FEATURES order) of the true P(bad), before and after the drift.
WEIGHTS_BEFORE = (-2.0, np.array([1.0, 2.5, 1.5, 3.0, 1.5]))
WEIGHTS_AFTER = (-2.0, np.array([3.0, 0.0, 2.5, 0.5, -1.0]))
BITS = 10
WINDOW = 500
PRE_DRIFT = 2000


@dataclass
class Environment:
    """Contexts, their true P(bad), the expected reward of every action and the drawn outcomes."""

    contexts: np.ndarray        # (n, 5)
    hashed: list[HashedFeatures]
    p_bad: np.ndarray           # (n,)
    expected: np.ndarray        # (n, K)
    bad: np.ndarray             # (n,) of 0/1

    def reward(self, t: int, action: int) -> float:
        return float(REWARDS[action, int(self.bad[t])])


def environment(n: int, seed: int, drift_at: int | None) -> Environment:
    rng = np.random.default_rng(seed)
    binary = (rng.random((n, 4)) < np.array(RATES)).astype(np.float64)
    contexts = np.column_stack([binary, rng.random(n)])
    logits = np.empty(n)
    cut = n if drift_at is None else drift_at
    for (bias, w), rows in ((WEIGHTS_BEFORE, slice(0, cut)), (WEIGHTS_AFTER, slice(cut, n))):
        logits[rows] = bias + contexts[rows] @ w
    p_bad = 1.0 / (1.0 + np.exp(-logits))
    expected = REWARDS[:, 0][None, :] * (1.0 - p_bad[:, None]) + REWARDS[:, 1][None, :] * p_bad[:, None]
    bad = (rng.random(n) < p_bad).astype(np.int64)
    hashed = [hash_features(dict(zip(FEATURES, row.tolist(), strict=True)), {}, bits=BITS)
              for row in contexts]
    return Environment(contexts, hashed, p_bad, expected, bad)


# A policy is a pair of callables: choose(t) -> (action, probabilities), learn(t, action, reward).
Choose = Callable[[int], tuple[int, np.ndarray]]
Learn = Callable[[int, int, float], None]


def run(env: Environment, choose: Choose, learn: Learn) -> np.ndarray:
    """Play every decision; return the expected regret of each."""
    best = env.expected.max(axis=1)
    regret = np.empty(len(env.p_bad))
    for t in range(regret.size):
        action, _ = choose(t)
        regret[t] = best[t] - env.expected[t, action]
        learn(t, action, env.reward(t, action))
    return regret


def uniform_policy(env: Environment, seed: int) -> tuple[Choose, Learn]:
    rng = np.random.default_rng(seed)
    k = len(ACTIONS)
    return (lambda t: (int(rng.integers(k)), np.full(k, 1.0 / k))), (lambda t, a, r: None)


def epsilon_greedy(env: Environment, seed: int, epsilon: float = 0.1) -> tuple[Choose, Learn]:
    rng = np.random.default_rng(seed)
    k = len(ACTIONS)
    models = [FTRLProximal(BITS, alpha=DEFAULT_ALPHA) for _ in range(k)]

    def choose(t: int) -> tuple[int, np.ndarray]:
        x = env.hashed[t]
        best = int(np.argmax([m.predict_one(*x) for m in models]))
        p = np.full(k, epsilon / k)
        p[best] += 1.0 - epsilon
        return (int(rng.integers(k)) if rng.random() < epsilon else best), p

    def learn(t: int, action: int, reward: float) -> None:
        models[action].learn_one(*env.hashed[t], (reward + 1.0) / 2.0)
    return choose, learn


def linucb(env: Environment, seed: int, alpha: float = 0.5) -> tuple[Choose, Learn]:
    bandit = LinUCB(len(ACTIONS), len(FEATURES) + 1, alpha=alpha)
    dense = np.column_stack([np.ones(len(env.contexts)), env.contexts])
    k = len(ACTIONS)

    def choose(t: int) -> tuple[int, np.ndarray]:
        action = bandit.choose(dense[t])[0]
        return action, np.eye(k)[action]
    return choose, lambda t, a, r: bandit.learn(dense[t], a, r)


def squarecb(env: Environment, seed: int, gamma: float = DEFAULT_GAMMA,
             keep: list[SquareCB] | None = None) -> tuple[Choose, Learn]:
    policy = SquareCB(len(ACTIONS), BITS, gamma=gamma, seed=seed)
    if keep is not None:
        keep.append(policy)

    def choose(t: int) -> tuple[int, np.ndarray]:
        d = policy.choose(*env.hashed[t])
        return d.action, d.probabilities
    return choose, lambda t, a, r: policy.learn(*env.hashed[t], a, r)


def vowpal(env: Environment, seed: int, extra: str = "") -> tuple[Choose, Learn]:
    from vowpalwabbit import pyvw  # optional: the bench extra
    vw = pyvw.Workspace(f"--cb_explore_adf -q sa --quiet --random_seed {seed} {extra}".strip())
    rng = np.random.default_rng(seed)
    actions = [f"|a action={name}" for name in ACTIONS]

    def shared(t: int) -> str:
        return "shared |s " + " ".join(f"{f}:{v:.6g}" for f, v in zip(FEATURES, env.contexts[t], strict=True))
    last: dict[str, np.ndarray] = {}

    def choose(t: int) -> tuple[int, np.ndarray]:
        p = np.asarray(vw.predict([shared(t), *actions]), dtype=np.float64)
        p = p / p.sum()
        last["p"] = p
        return int(rng.choice(len(p), p=p)), p

    def learn(t: int, action: int, reward: float) -> None:
        lines = [shared(t), *actions]
        lines[action + 1] = f"{action}:{-reward}:{last['p'][action]} {actions[action]}"
        vw.learn(lines)
    return choose, learn


def recovery(regret: np.ndarray, drift_at: int) -> tuple[float, int | None]:
    level = float(regret[drift_at - PRE_DRIFT:drift_at].mean())
    bound = 1.1 * level + 0.005
    for n in range(0, regret.size - drift_at - WINDOW + 1, 50):
        if regret[drift_at + n:drift_at + n + WINDOW].mean() <= bound:
            return level, n
    return level, None


def off_policy(policy: SquareCB, n: int, seed: int) -> tuple[float, float, float, float]:
    """(true value, IPS, SNIPS, DR) of the frozen policy on a uniformly logged, post-drift run."""
    env = environment(n, seed, drift_at=0)
    rng = np.random.default_rng(seed + 1)
    k = len(ACTIONS)
    actions = rng.integers(k, size=n)
    rewards = REWARDS[actions, env.bad]
    target = np.empty((n, k))
    scores = np.empty((n, k))
    for t in range(n):
        target[t], scores[t], _ = policy.distribution(*env.hashed[t])
    true_value = float(np.mean(np.sum(target * env.expected, axis=1)))
    mu = np.full(n, 1.0 / k)
    return (true_value, ips(rewards, mu, target, actions), snips(rewards, mu, target, actions),
            doubly_robust(rewards, mu, target, actions, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--gammas", type=float, nargs="*", default=[],
                        help="also run SquareCB with these gammas")
    args = parser.parse_args()
    n, drift_at = args.decisions, args.decisions // 2
    policies: dict[str, Callable[[Environment, int], tuple[Choose, Learn]]] = {
        "uniform": uniform_policy,
        "eps-greedy 0.1 (FTRL)": epsilon_greedy,
        "LinUCB alpha 0.5": linucb,
    }
    try:
        import vowpalwabbit  # noqa: F401
        policies["VW cb_explore_adf"] = vowpal
        policies["VW cb_explore_adf --squarecb"] = lambda e, s: vowpal(e, s, "--squarecb")
    except ImportError:
        print("vowpalwabbit not installed: VW rows skipped")
    for gamma in args.gammas:
        policies[f"SquareCB gamma {gamma:g}"] = partial(squarecb, gamma=gamma)
    kept: list[SquareCB] = []
    policies[f"SquareCB gamma {DEFAULT_GAMMA:g} (ours)"] = lambda e, s: squarecb(e, s, keep=kept)

    envs = [environment(n, seed, drift_at) for seed in range(args.seeds)]
    print(f"{n} decisions, drift at {drift_at}, {args.seeds} seeds (mean regret shown)\n")
    print(f"{'policy':<32} {'regret':>8} {'1st half':>9} {'2nd half':>9} {'pre-drift/dec':>14} "
          f"{'recovery':>9} {'s':>5}")
    for name, make in policies.items():
        started = time.perf_counter()
        regrets = np.mean([run(env, *make(env, seed)) for seed, env in enumerate(envs)], axis=0)
        elapsed = time.perf_counter() - started
        level, recovered = recovery(regrets, drift_at)
        print(f"{name:<32} {regrets.sum():8.1f} {regrets[:drift_at].sum():9.1f} "
              f"{regrets[drift_at:].sum():9.1f} {level:14.4f} "
              f"{'never' if recovered is None else recovered:>9} {elapsed:5.1f}")
    print("\nOff-policy value of SquareCB (frozen at the end), uniformly logged post-drift run "
          f"of {n} decisions:")
    for seed, policy in enumerate(kept):
        true_value, v_ips, v_snips, v_dr = off_policy(policy, n, 1000 + seed)
        errors = [abs(v - true_value) / abs(true_value) for v in (v_ips, v_snips, v_dr)]
        print(f"  seed {seed}: true {true_value:.4f}  IPS {v_ips:.4f}  SNIPS {v_snips:.4f}  "
              f"DR {v_dr:.4f}  (errors {', '.join(f'{e:.1%}' for e in errors)})")


if __name__ == "__main__":
    main()

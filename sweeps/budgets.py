"""Study budgets: how long each trial trains and which artifacts it uses."""

from __future__ import annotations

from dataclasses import dataclass

PAPER_SEEDS = (123, 456, 789)
PAPER_BUDGET_SEEDS = 5  # 123, 456, 789, 1000, 1001: the paper's 3 cannot tell a bimodal learner apart


@dataclass(frozen=True)
class StudyBudget:
    """env_steps: per trial; iterations: train() calls per trial (progress granularity);
    eval_episodes: greedy episodes, shield off, at the end (return_eval); obs: default
    observation kind; pretrain_budget: pretraining budget of the encoder and Q_p used; seeds:
    default number of seeds per setting; first_seeds: seeds (layouts) that come first in
    this budget's seed order (default: the paper's)."""

    name: str
    env_steps: int
    iterations: int
    eval_episodes: int
    obs: str
    pretrain_budget: str
    seeds: int
    first_seeds: tuple[int, ...] = PAPER_SEEDS


# The quick budget's layouts: two that the default agent (nstep3) learns within 100K steps
# (dqn: 0.95 by 96K on 123, by 80K on 789, in single runs; at 80K, one run learned 789 and
# another learned neither). Layout 456 needs about 100K (0.83 at 96K) and the quick budget
# leaves it out; the paper budget runs it.
QUICK_SEEDS = (123, 789)
STUDY_BUDGETS = {
    "smoke": StudyBudget(
        "smoke", env_steps=1_200, iterations=2, eval_episodes=1, obs="symbolic", pretrain_budget="quick", seeds=3
    ),
    "quick": StudyBudget(
        "quick",
        env_steps=100_000,
        iterations=10,
        eval_episodes=3,
        obs="symbolic",
        pretrain_budget="quick",
        seeds=len(QUICK_SEEDS),
        first_seeds=QUICK_SEEDS,
    ),
    "paper": StudyBudget(
        "paper",
        env_steps=200_000,
        iterations=40,
        eval_episodes=10,
        obs="pixels",
        pretrain_budget="paper",
        seeds=PAPER_BUDGET_SEEDS,
    ),
}


def seeds_for(n: int, first: tuple[int, ...] = PAPER_SEEDS) -> list[int]:
    """`n` seeds: `first`, then the paper's seeds (123, 456, 789), then 1000, 1001, ..."""
    if n < 1:
        raise ValueError(f"--seeds must be >= 1, got {n}")
    order = list(dict.fromkeys([*first, *PAPER_SEEDS]))
    return [*order, *range(1000, 1000 + max(0, n - len(order)))][:n]

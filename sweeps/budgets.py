"""Study budgets: how long each trial trains and which artifacts it uses."""

from __future__ import annotations

from dataclasses import dataclass

PAPER_SEEDS = (123, 456, 789)
PAPER_BUDGET_SEEDS = 5  # 123, 456, 789, 1000, 1001: the paper's 3 cannot tell a bimodal learner apart


@dataclass(frozen=True)
class StudyBudget:
    """env_steps: per trial; iterations: train() calls per trial (progress granularity);
    eval_episodes: greedy episodes, shield off, at the end (return_eval); obs: default
    observation kind; artifacts: pretraining budget of the encoder and Q_p used; seeds:
    default number of seeds per setting."""

    name: str
    env_steps: int
    iterations: int
    eval_episodes: int
    obs: str
    artifacts: str
    seeds: int


STUDY_BUDGETS = {
    "smoke": StudyBudget(
        "smoke", env_steps=1_200, iterations=2, eval_episodes=1, obs="symbolic", artifacts="quick", seeds=3
    ),
    "quick": StudyBudget(
        "quick", env_steps=12_000, iterations=8, eval_episodes=3, obs="symbolic", artifacts="quick", seeds=3
    ),
    "paper": StudyBudget(
        "paper",
        env_steps=200_000,
        iterations=40,
        eval_episodes=10,
        obs="pixels",
        artifacts="paper",
        seeds=PAPER_BUDGET_SEEDS,
    ),
}


def seeds_for(n: int) -> list[int]:
    """The paper's seeds (123, 456, 789) first, then 1000, 1001, ..."""
    if n < 1:
        raise ValueError(f"--seeds must be >= 1, got {n}")
    return [*PAPER_SEEDS, *range(1000, 1000 + max(0, n - len(PAPER_SEEDS)))][:n]

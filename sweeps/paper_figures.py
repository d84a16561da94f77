"""The paper's reported figures (PAPER.md) and a table comparing a study's results to them.

The authors' figures for MiniGrid-LavaCrossingS9N1 are means of 3 seeds at 200K
environment steps, read from their plots (hence "≈" in PAPER.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

PAPER_ENV = "MiniGrid-LavaCrossingS9N1-v0"


@dataclass(frozen=True)
class PaperFigure:
    """One method's reported figures; `setting` is its label in pareto.csv."""

    method: str
    setting: str
    return_final: float
    violations_total: float


PAPER_FIGURES = (
    PaperFigure("DQN", "dqn", 0.57, 1055.0),
    PaperFigure("DQN + domain priors (rho 0.95)", "priors rho=0.95 tau=0", 0.0, 40.0),
    # shown in the paper's figure without figures in its text: compared as ours alone
    PaperFigure("DQN + domain priors (rho 0.5)", "priors rho=0.5 tau=0", math.nan, math.nan),
    PaperFigure(
        "shield (the paper's method)", "shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10 tau=0", 0.93, 100.0
    ),
)
COMPARISON_COLUMNS = (
    "method",
    "setting",
    "n_seeds",
    "env_steps",
    "return_final_mean",
    "return_final_paper",
    "violations_total_mean",
    "violations_total_paper",
    "violations_ratio",
)


def paper_comparison(pareto: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """One row per paper method found in `pareto` (pareto.csv rows); `COMPARISON_COLUMNS`.

    env_steps: the mean steps the trials trained (the paper's are 200K);
    violations_ratio: ours / the paper's. Empty when no setting matches.
    """
    rows = []
    for figure in PAPER_FIGURES:
        match = pareto[pareto["setting"] == figure.setting]
        if match.empty:
            continue
        ours = match.iloc[0]
        done = trials[(trials["setting"] == figure.setting) & (trials["status"] == "TERMINATED")]
        rows.append(
            {
                "method": figure.method,
                "setting": figure.setting,
                "n_seeds": int(ours["n_seeds"]),
                "env_steps": float(done["env_steps"].mean()) if len(done) else math.nan,
                "return_final_mean": float(ours["return_final_mean"]),
                "return_final_paper": figure.return_final,
                "violations_total_mean": float(ours["violations_total_mean"]),
                "violations_total_paper": figure.violations_total,
                "violations_ratio": float(ours["violations_total_mean"]) / figure.violations_total,
            }
        )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))

"""The paper's reported figures and a table comparing a study's results to them.

The authors' figures for MiniGrid-LavaCrossingS9N1 are means of 3 seeds at 200K
environment steps, read off their plots (so approximate). Each figure names its setting
by value (`ShieldParams` fields); a study's pareto.csv row matches it when every setting
that acts in that mode has the same value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shield.settings import PAPER_SHIELD, RELEVANT, setting_label


@dataclass(frozen=True)
class PaperFigure:
    """One method's reported figures at the paper's setting `settings` (mode and values)."""

    method: str
    settings: dict[str, Any]
    return_final: float
    violations_total: float

    @property
    def values(self) -> dict[str, Any]:
        """Every setting: the figure's, the others at the paper's values."""
        return {**PAPER_SHIELD.to_dict(), **self.settings}

    @property
    def setting(self) -> str:
        return setting_label(self.values)

    def matches(self, row: pd.Series) -> bool:
        """`row` (of pareto.csv) ran this figure's setting (an empty value, from a table
        written before that setting existed, counts as its default)."""
        mode = self.settings["mode"]
        return row["mode"] == mode and all(_same(row.get(key), self.values[key], key) for key in RELEVANT[mode])


def _same(ours: Any, paper: Any, key: str) -> bool:
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        ours = getattr(PAPER_SHIELD, key)
    if isinstance(paper, str):
        return str(ours) == paper
    return math.isclose(float(ours), float(paper))


PAPER_FIGURES = (
    PaperFigure("DQN", {"mode": "dqn"}, 0.57, 1055.0),
    PaperFigure("DQN + domain priors (rho 0.95)", {"mode": "priors", "rho": PAPER_SHIELD.rho}, 0.0, 40.0),
    # shown in the paper's figure without figures in its text: compared as ours alone
    PaperFigure("DQN + domain priors (rho 0.5)", {"mode": "priors", "rho": 0.5}, math.nan, math.nan),
    PaperFigure("shield (the paper's method)", PAPER_SHIELD.to_dict(), 0.93, 100.0),
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
        match = pareto[[figure.matches(row) for _, row in pareto.iterrows()]]
        if match.empty:
            continue
        ours = match.iloc[0]
        done = trials[(trials["setting"] == ours["setting"]) & (trials["status"] == "TERMINATED")]
        rows.append(
            {
                "method": figure.method,
                "setting": ours["setting"],
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

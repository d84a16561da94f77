"""The paper's reported figures and a table comparing a study's results to them.

The authors' figures for MiniGrid-LavaCrossingS9N1 are means of 3 seeds at 200K
environment steps, read off their plots (so approximate). Each figure names its setting
by value (`ShieldParams` fields); a study's pareto.csv row matches it when every setting
that acts in that mode has the same value. A run is compared with them only when it is
comparable (`comparability`: the paper's environment and its 200K steps per trial).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shield.agents import PAPER_ENV_STEPS
from shield.envs import DEFAULT_ENV
from shield.settings import DEFAULT_SHIELD, PAPER_SHIELD, RELEVANT, setting_label

PAPER_ENV = DEFAULT_ENV  # the paper's figures are for this environment only
# Trials stop at the first iteration boundary past their budget (a few hundred steps over),
# so "the paper's 200K" means within this fraction of it.
ENV_STEPS_TOLERANCE = 0.05


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

    def matches(self, pareto: pd.DataFrame) -> np.ndarray:
        """[rows]: which rows of `pareto` (pareto.csv) ran this figure's setting: the same mode
        and the same values (`math.isclose`) of the settings that act in it; an empty value,
        from a table written before that setting existed, counts as its default."""
        mode = self.settings["mode"]
        match = np.array(pareto["mode"] == mode, dtype=bool)  # a copy: &= writes to it
        for key in RELEVANT[mode]:
            default, paper = getattr(PAPER_SHIELD, key), self.values[key]
            ours = pareto[key] if key in pareto else pd.Series(default, index=pareto.index)
            ours = ours.astype(object).where(ours.notna(), default)
            if isinstance(paper, str):
                match &= (ours.astype(str) == paper).to_numpy(dtype=bool)
            else:
                ours = ours.to_numpy(dtype=float)
                match &= np.abs(ours - paper) <= 1e-9 * np.maximum(np.abs(ours), abs(paper))  # math.isclose's
        return match


PAPER_FIGURES = (
    PaperFigure("DQN", {"mode": "dqn"}, 0.57, 1055.0),
    PaperFigure("DQN + domain priors (rho 0.95)", {"mode": "priors", "rho": PAPER_SHIELD.rho}, 0.0, 40.0),
    # shown in the paper's figure without figures in its text: compared as ours alone
    PaperFigure("DQN + domain priors (rho 0.5)", {"mode": "priors", "rho": 0.5}, math.nan, math.nan),
    PaperFigure("shield (the paper's method)", PAPER_SHIELD.to_dict(), 0.93, 100.0),
    # the same method with this tool's default rules, beside the paper's figures for it
    PaperFigure("shield, default rules (distinct buffer, capped d_max)", DEFAULT_SHIELD.to_dict(), 0.93, 100.0),
)
COMPARISON_COLUMNS = (
    "comparable",
    "reason",
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


@dataclass(frozen=True)
class Comparability:
    """Whether a run's figures can stand beside the paper's, and why (or why not)."""

    comparable: bool
    reason: str


def comparability(trials: pd.DataFrame) -> Comparability:
    """The rule: every finished trial (trials.csv rows) ran on `PAPER_ENV` for `PAPER_ENV_STEPS`
    env steps, within `ENV_STEPS_TOLERANCE`. Unfinished trials do not count (nor do they in
    pareto.csv)."""
    done = trials[trials["status"] == "TERMINATED"]
    if done.empty:
        return Comparability(False, "no finished trial")
    envs = sorted({str(env) for env in done["env"]})
    if envs != [PAPER_ENV]:
        return Comparability(False, f"env {', '.join(envs)}; the paper's figures are for {PAPER_ENV}")
    steps = done["env_steps"].to_numpy(dtype=float)
    if np.isnan(steps).any():
        return Comparability(False, "env_steps unknown for some trials")
    low, high = steps.min(), steps.max()
    within = np.abs(steps - PAPER_ENV_STEPS) <= ENV_STEPS_TOLERANCE * PAPER_ENV_STEPS
    trained = f"{low:,.0f}" if low == high else f"{low:,.0f}-{high:,.0f}"
    if not within.all():
        return Comparability(
            False, f"trials trained {trained} env steps; the paper's figures are at {PAPER_ENV_STEPS:,} per trial"
        )
    return Comparability(True, f"{PAPER_ENV} at {trained} env steps per trial (the paper's: {PAPER_ENV_STEPS:,})")


def paper_comparison(pareto: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """One row per paper method found in `pareto` (pareto.csv rows); `COMPARISON_COLUMNS`.

    env_steps: the mean steps the trials trained (the paper's are 200K);
    violations_ratio: ours / the paper's. A run that is not comparable (`comparability`),
    or in which none of the paper's settings finished, gives one row: ``comparable`` False,
    ``reason`` why, the other columns empty.
    """
    verdict = comparability(trials)
    rows = []
    for figure in PAPER_FIGURES if verdict.comparable else ():
        match = pareto[figure.matches(pareto)]
        if match.empty:
            continue
        ours = match.iloc[0]
        done = trials[(trials["setting"] == ours["setting"]) & (trials["status"] == "TERMINATED")]
        rows.append(
            {
                "comparable": True,
                "reason": verdict.reason,
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
    if not rows:
        reason = verdict.reason if not verdict.comparable else "none of the paper's settings finished"
        rows.append({"comparable": False, "reason": reason})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))

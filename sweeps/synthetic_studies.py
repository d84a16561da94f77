"""Made-up studies of any size, in the published tables' columns, for timing and checking
the report at scale (benchmarks/aggregation.py, tests/sweeps/test_aggregation_scale.py).

Two kinds (`SCENARIOS`):

- "grid": 50 settings (dqn, priors and 48 shield settings) × as many seeds as it takes;
- "optuna": one shield setting per trial drawn from `sweeps.pareto_search.SPACE`, one seed
  each, as the search's first phase proposes them.

Every trial trains `ENV_STEPS` on the paper's environment, so the report draws its paper
comparison too; its outcome is drawn from `outcome_model` (plausible values, not measured).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shield.envs import DEFAULT_ENV
from shield.settings import PAPER_SHIELD, setting_label
from sweeps.budgets import seeds_for
from sweeps.pareto_search import MARGINS, SPACE
from sweeps.report import CURVE_COLUMNS
from sweeps.results import SETTING_COLUMNS, TRIAL_COLUMNS

SCENARIOS = ("grid", "optuna")
ENV_STEPS = 200_000  # per trial: the paper's, so that the report draws its comparison


def grid_settings() -> list[dict]:
    """dqn, priors and 48 shield settings (d_max × rho × buffer_size), as a grid study's."""
    settings = [{"mode": "dqn"}, {"mode": "priors", "rho": PAPER_SHIELD.rho, "tau": PAPER_SHIELD.tau}]
    for d_max in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0):
        for rho in (0.5, 0.8, 0.95):
            for buffer_size in (50, 100):
                settings.append(PAPER_SHIELD.to_dict() | {"d_max": d_max, "rho": rho, "buffer_size": buffer_size})
    return settings


def searched_settings(n: int, rng: np.random.Generator) -> list[dict]:
    """`n` shield settings drawn uniformly from the search's space, as Optuna's first ones are."""
    d_max = rng.uniform(*SPACE["d_max"], size=n)
    rho = rng.uniform(*SPACE["rho"], size=n)
    buffer_size = rng.choice(SPACE["buffer_size"], size=n)
    margin = rng.choice(MARGINS, size=n)
    base = PAPER_SHIELD.to_dict()
    return [
        base | {"d_max": float(d), "rho": float(r), "buffer_size": int(b), "margin": float(m)}
        for d, r, b, m in zip(d_max, rho, buffer_size, margin, strict=True)
    ]


def outcome_model(setting: dict) -> tuple[float, float]:
    """(probability that a seed learns, typical lava deaths) of a setting: dqn learns and dies
    most, priors never learns and rarely dies, the shield in between by d_max and rho."""
    if setting["mode"] == "dqn":
        return 0.9, 240.0
    if setting["mode"] == "priors":
        return 0.0, 6.0
    guard = setting["rho"] * min(setting["d_max"], 3.0) / 3.0  # 0 (no shield) .. 1 (strict)
    return 0.95 - 0.5 * max(guard - 0.7, 0.0), 240.0 * (1.0 - 0.87 * guard) * (100.0 / setting["buffer_size"]) ** 0.1


def synthetic_study(scenario: str, n_trials: int, iterations: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials [n_trials, TRIAL_COLUMNS], curves [n_trials × iterations, CURVE_COLUMNS]) of a
    `scenario` study: plausible values (returns in [0, 0.96], bimodal by whether a seed
    learned; violation counts), about 1% of trials unfinished and 0.1% without a finished
    episode (return_final empty)."""
    rng = np.random.default_rng(seed)
    if scenario == "grid":
        settings = grid_settings()
        seeds = np.array(seeds_for(-(-n_trials // len(settings))))
        which = np.repeat(np.arange(len(settings)), len(seeds))[:n_trials]
        trial_seeds = np.tile(seeds, len(settings))[:n_trials]
    else:
        settings = searched_settings(n_trials, rng)
        which, trial_seeds = np.arange(n_trials), np.full(n_trials, seeds_for(1)[0])
    learn_p, deaths = np.array([outcome_model(s) for s in settings]).T
    learned = rng.random(n_trials) < learn_p[which]
    return_final = np.where(learned, rng.uniform(0.90, 0.96, n_trials), rng.uniform(0.0, 0.3, n_trials) ** 2)
    return_final[rng.random(n_trials) < 0.001] = np.nan
    violations = np.round(deaths[which] * rng.lognormal(0.0, 0.35, n_trials))
    columns = {name: [s.get(name) for s in settings] for name in SETTING_COLUMNS}
    labels = np.array([setting_label(s) for s in settings], dtype=object)
    trials = pd.DataFrame(
        {
            "trial_id": [f"{seed:05x}_{i:05d}" for i in range(n_trials)],
            "status": np.where(rng.random(n_trials) < 0.01, "UNFINISHED", "TERMINATED"),
            "agent": "nstep3",
            "setting": labels[which],
            **{name: np.asarray(values, dtype=object)[which] for name, values in columns.items()},
            "seed": trial_seeds,
            "env": DEFAULT_ENV,
            "obs": "symbolic",
            "violations_total": violations,
            "return_final": return_final,
            "return_auc": return_final * rng.uniform(0.6, 0.85, n_trials),
            "return_eval": np.where(learned, 0.96, 0.0),
            "interventions_total": np.round(violations * rng.uniform(2, 20, n_trials)),
            "state_flag_rate": rng.uniform(0.0, 0.3, n_trials),
            "state_precision": rng.uniform(0.1, 0.6, n_trials),
            "state_recall": rng.uniform(0.5, 1.0, n_trials),
            "action_precision": rng.uniform(0.3, 0.9, n_trials),
            "action_recall": rng.uniform(0.5, 1.0, n_trials),
            "distance_q10": rng.uniform(0.5, 2.0, n_trials),
            "distance_q50": rng.uniform(2.0, 4.0, n_trials),
            "distance_q90": rng.uniform(4.0, 8.0, n_trials),
            "d_max_effective": np.array([s.get("d_max") or PAPER_SHIELD.d_max for s in settings])[which],
            "env_steps": ENV_STEPS + rng.integers(0, 500, n_trials).astype(float),
            "wall_s": rng.uniform(150.0, 250.0, n_trials),
        },
        columns=list(TRIAL_COLUMNS),
    )
    # each trial's reports: steps in equal parts, violations accumulating, the return rising
    # to its last value once the seed learns (or staying near 0)
    fraction = np.tile(np.arange(1, iterations + 1) / iterations, n_trials)
    row = np.repeat(np.arange(n_trials), iterations)
    rising = np.clip((fraction - 0.5) * 3.0, 0.0, 1.0)
    curves = pd.DataFrame(
        {
            "setting": trials["setting"].to_numpy()[row],
            "seed": trial_seeds[row],
            "trial_id": trials["trial_id"].to_numpy()[row],
            "env_steps": np.round(trials["env_steps"].to_numpy()[row] * fraction),
            "return_final": return_final[row] * np.where(learned[row], rising, 1.0),
            "violations_total": np.round(violations[row] * fraction**0.7),
        },
        columns=list(CURVE_COLUMNS),
    )
    return trials, curves


def write_published(folder: Path, trials: pd.DataFrame, curves: pd.DataFrame) -> Path:
    """`folder` as a published study folder: trials.csv (sorted, as the report writes it)
    and curves.csv, no trial folders."""
    folder.mkdir(parents=True, exist_ok=True)
    trials.sort_values(["setting", "seed"]).to_csv(folder / "trials.csv", index=False)
    curves.to_csv(folder / "curves.csv", index=False)
    return folder

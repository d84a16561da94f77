"""Result tables: one row per trial (`trials.csv`), one row per setting (`pareto.csv`).

The schema of every column is documented in results/README.md and checked by the tests.
Functions take and return DataFrames; only `append_trial_row` touches files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shield.settings import RELEVANT, ShieldParams, setting_label
from sweeps.pareto import bootstrap_mean_ci, dominance_matrix, hypervolume_2d, pareto_ranks

SETTING_COLUMNS = ShieldParams.names()  # every shield setting, in declaration order
METRIC_COLUMNS = (
    "violations_total",
    "return_final",
    "return_auc",
    "return_eval",
    "interventions_total",
    "state_flag_rate",
    "state_precision",
    "state_recall",
    "action_precision",
    "action_recall",
    "distance_q10",
    "distance_q50",
    "distance_q90",
    "d_max_effective",
    "env_steps",
    "wall_s",
)
TRIAL_COLUMNS = ("trial_id", "status", "agent", "setting", *SETTING_COLUMNS, "seed", "env", "obs", *METRIC_COLUMNS)
# A seed has learned when its return_final reaches this (an optimal path returns about 0.95
# on S9N1; a seed that has not learned stays near 0).
LEARNED_RETURN = 0.9
OBJECTIVES = (("return_final", 1), ("violations_total", -1))  # maximise, minimise
STAT_SUFFIXES = ("mean", "std", "ci_low", "ci_high")
PARETO_COLUMNS = (
    "agent",
    "setting",
    *SETTING_COLUMNS,
    "n_seeds",
    "n_seeds_learned",
    *(f"{name}_{stat}" for name, _ in OBJECTIVES for stat in STAT_SUFFIXES),
    "pareto_rank",
    "on_front",
    "dominated_by",
)
HYPERVOLUME_COLUMNS = ("hypervolume", "ci_low", "ci_high", "reference_return", "reference_violations", "n_front")


def _get(tree: dict, *keys: str, default: Any = float("nan")) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return default
        tree = tree[key]
    return tree


def trial_row(trial_id: str, status: str, config: dict, result: dict) -> dict[str, Any]:
    """One `trials.csv` row from a trial's config (AlgorithmConfig dict) and last result."""
    shield = config.get("shield_config", {})
    mode = shield.get("mode", "shield")
    settings = {key: (shield.get(key) if key == "mode" or key in RELEVANT[mode] else None) for key in SETTING_COLUMNS}
    metrics = _get(result, "env_runners", "shield", default={})
    row: dict[str, Any] = {
        "trial_id": trial_id,
        "status": status,
        "agent": config.get("agent_preset", "paper"),  # runs from before presets used the paper's agent
        "setting": setting_label(settings),
        **settings,
        "seed": config.get("seed"),
        "env": config.get("env"),
        "obs": _get(config, "env_config", "obs", default=None),
    }
    for name in METRIC_COLUMNS:
        row[name] = metrics.get(name, float("nan")) if isinstance(metrics, dict) else float("nan")
    row["return_eval"] = _get(result, "evaluation", "env_runners", "episode_return_mean")
    row["env_steps"] = _get(result, "env_runners", "num_env_steps_sampled_lifetime")
    row["wall_s"] = result.get("time_total_s", float("nan"))
    return row


def append_trial_row(path: Path, row: dict[str, Any]) -> bool:
    """Append `row` to the CSV at `path` unless its trial_id is already there."""
    path = Path(path)
    has_rows = path.exists() and path.stat().st_size > 0
    if has_rows and str(row["trial_id"]) in set(pd.read_csv(path, usecols=["trial_id"])["trial_id"].astype(str)):
        return False
    pd.DataFrame([row], columns=list(TRIAL_COLUMNS)).to_csv(path, mode="a", header=not has_rows, index=False)
    return True


def worst_for_undefined(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """`points` [n, m] with NaN (an undefined mean: no episode finished, say) replaced by
    the worst value of its objective, so such settings rank last instead of vanishing."""
    worst = np.where(np.asarray(senses) > 0, -np.inf, np.inf)
    return np.where(np.isnan(points), worst, points)


def pareto_table(trials: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """Aggregate completed trials over seeds into one row per setting (`PARETO_COLUMNS`).

    mean/std/ci over seeds (percentile bootstrap 95% CI of the mean); `n_seeds_learned`
    counts the seeds whose return_final reached `LEARNED_RETURN`; `pareto_rank` from
    non-dominated sorting of the means (1 = front); `dominated_by` lists the settings
    whose means dominate this one, separated by "; ".
    """
    done = trials[trials["status"] == "TERMINATED"]
    rows = []
    for (agent, setting), group in done.groupby(["agent", "setting"], sort=True):
        row: dict[str, Any] = {"agent": agent, "setting": setting, **{c: group[c].iloc[0] for c in SETTING_COLUMNS}}
        row["n_seeds"] = int(group["seed"].nunique())
        row["n_seeds_learned"] = int((group["return_final"].to_numpy(dtype=float) >= LEARNED_RETURN).sum())
        for name, _ in OBJECTIVES:
            values = group[name].to_numpy(dtype=float)
            defined = values[~np.isnan(values)]
            row[f"{name}_mean"] = float(defined.mean()) if len(defined) else float("nan")
            row[f"{name}_std"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else float("nan")
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_mean_ci(values, n_boot=n_boot)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(PARETO_COLUMNS[: PARETO_COLUMNS.index("pareto_rank")]))
    if table.empty:
        return pd.DataFrame(columns=list(PARETO_COLUMNS))
    senses = [sense for _, sense in OBJECTIVES]
    points = table[[f"{name}_mean" for name, _ in OBJECTIVES]].to_numpy(dtype=float)
    points = worst_for_undefined(points, senses)
    ranks = pareto_ranks(points, senses)
    table["pareto_rank"] = ranks
    table["on_front"] = ranks == 1
    dom = dominance_matrix(points, senses)
    labels = table["setting"].tolist()
    table["dominated_by"] = ["; ".join(labels[i] for i in np.flatnonzero(dom[:, j])) for j in range(len(table))]
    return table[list(PARETO_COLUMNS)].sort_values(["pareto_rank", "violations_total_mean"]).reset_index(drop=True)


LEARNED_COLUMNS = ("setting", "env_steps", "n_seeds", "n_seeds_learned", "fraction_learned", "return_final_mean")


def learned_table(curves: pd.DataFrame, fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0)) -> pd.DataFrame:
    """Per setting and fraction of the budget: how many seeds had learned (`LEARNED_RETURN`).

    curves: one row per trial and iteration (setting, seed, env_steps, return_final). At
    each fraction f of the longest trial's steps, every seed's last report at or before
    f × steps counts. Columns `LEARNED_COLUMNS`.
    """
    rows = []
    for setting, group in curves.dropna(subset=["env_steps"]).groupby("setting", sort=True):
        total = float(group["env_steps"].max())
        for fraction in fractions:
            upto = group[group["env_steps"] <= fraction * total + 1e-9]
            last = upto.sort_values("env_steps").groupby("seed").tail(1)
            returns = last["return_final"].to_numpy(dtype=float)
            learned = int((returns >= LEARNED_RETURN).sum())
            n = int(group["seed"].nunique())
            rows.append(
                {
                    "setting": setting,
                    "env_steps": int(last["env_steps"].max()) if len(last) else 0,
                    "n_seeds": n,
                    "n_seeds_learned": learned,
                    "fraction_learned": learned / n if n else float("nan"),
                    "return_final_mean": float(np.nanmean(returns)) if len(returns) else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(LEARNED_COLUMNS))


def reference_point(trials: pd.DataFrame) -> tuple[float, float]:
    """Worst point for the hypervolume: return 0 and 10% above the most violations seen."""
    most = float(np.nanmax(trials["violations_total"].to_numpy(dtype=float))) if len(trials) else 0.0
    return 0.0, 1.1 * most + 1.0


def defined_mean(values: np.ndarray) -> np.ndarray:
    """Column means [m] of `values` [n, m] over the defined (non-NaN) entries; NaN where none is."""
    defined = ~np.isnan(values)
    counts = defined.sum(axis=0)
    sums = np.where(defined, values, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def hypervolume_table(trials: pd.DataFrame, pareto: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The front's hypervolume (of the seed means in `pareto`, `pareto_table(trials)`) with a
    bootstrap CI over seeds; ``n_front`` counts pareto's ``on_front`` rows.

    Each bootstrap draw resamples every setting's seeds with replacement, recomputes the
    means and the hypervolume of their front. One row, `HYPERVOLUME_COLUMNS`.
    """
    done = trials[trials["status"] == "TERMINATED"]
    ref = reference_point(done)
    senses = [sense for _, sense in OBJECTIVES]
    names = [name for name, _ in OBJECTIVES]
    # the settings of pareto.csv, grouped alike; resampled means over the seeds that define them
    groups = [g[names].to_numpy(dtype=float) for _, g in done.groupby(["agent", "setting"], sort=True)]
    if not groups:
        return pd.DataFrame([dict.fromkeys(HYPERVOLUME_COLUMNS, float("nan"))])
    hv = hypervolume_2d(pareto[[f"{name}_mean" for name in names]].to_numpy(dtype=float), senses, ref)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        resampled = np.array([defined_mean(g[rng.integers(len(g), size=len(g))]) for g in groups])
        draws.append(hypervolume_2d(resampled, senses, ref))
    n_front = int(pareto["on_front"].sum())
    row = {
        "hypervolume": hv,
        "ci_low": float(np.quantile(draws, 0.025)),
        "ci_high": float(np.quantile(draws, 0.975)),
        "reference_return": ref[0],
        "reference_violations": ref[1],
        "n_front": n_front,
    }
    return pd.DataFrame([row], columns=list(HYPERVOLUME_COLUMNS))


def check_schema(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ValueError when `frame`'s columns are not exactly `columns`, in order."""
    if list(frame.columns) != list(columns):
        raise ValueError(f"columns {list(frame.columns)} != documented {list(columns)}")

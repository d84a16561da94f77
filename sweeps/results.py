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
from scipy import stats

from shield.settings import RELEVANT, ShieldParams, setting_label
from sweeps.intervals import printed_intervals
from sweeps.pareto import (
    group_means,
    group_stds,
    hypervolume_2d,
    pareto_ranks,
)
from sweeps.verdicts import VERDICTS, scores, verdicts

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
RANGES = {"return_final": (0.0, 1.0), "violations_total": (0.0, np.inf)}  # what each can be
STAT_SUFFIXES = ("mean", "std", "ci_low", "ci_high", "ci_note")
PARETO_COLUMNS = (
    "agent",
    "setting",
    *SETTING_COLUMNS,
    "n_seeds",
    "n_seeds_learned",
    *(f"{name}_{stat}" for name, _ in OBJECTIVES for stat in STAT_SUFFIXES),
    "verdict",
    "dominated_by",
    "undecided_against",
    "dominance_p",
    "pareto_rank",
    "on_front",
)
HYPERVOLUME_COLUMNS = (
    "hypervolume",
    "ci_low",
    "ci_high",
    "ci_note",
    "reference_return",
    "reference_violations",
    "n_front",
)


def _get(tree: dict, *keys: str, default: Any = float("nan")) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return default
        tree = tree[key]
    return tree


# The rules of shield trials configured before `buffer_rule` and `d_max_rule` existed:
# they ran the paper's (a ring, a fixed d_max).
BEFORE = {"buffer_rule": "ring", "d_max_rule": "fixed"}


def trial_row(trial_id: str, status: str, config: dict, result: dict) -> dict[str, Any]:
    """One `trials.csv` row from a trial's config (AlgorithmConfig dict) and last result."""
    shield = config.get("shield_config", {})
    mode = shield.get("mode", "shield")
    settings = {key: (shield.get(key) if key == "mode" or key in RELEVANT[mode] else None) for key in SETTING_COLUMNS}
    if mode == "shield":  # configured before these settings existed: the paper's
        for key, before in BEFORE.items():
            settings[key] = before if settings[key] is None else settings[key]
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


def setting_groups(done: pd.DataFrame) -> tuple[np.ndarray, int]:
    """(group [n], n_groups): each row's setting, told apart by its agent and its values
    (`SETTING_COLUMNS`), as an index among them sorted by agent and label (the rows of
    pareto.csv before they are ranked); -1 for a row without agent or label."""
    columns = ["agent", "setting", *SETTING_COLUMNS]
    named = (done["agent"].notna() & done["setting"].notna()).to_numpy()
    values = done[columns].astype(object)
    keys = values.where(values.notna(), "").astype(str)  # an empty cell, None or NaN, is one value
    groups = np.full(len(done), -1)
    if named.any():
        groups[named] = keys[named].groupby(columns, sort=True).ngroup().to_numpy()
    return groups, int(groups.max()) + 1 if len(groups) else 0


def per_seed_scores(done: pd.DataFrame, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """[n_groups, seeds, 2]: each setting's `sweeps.verdicts.scores` on every seed of the
    study (its mean there, from `seed_sums`), NaN where it did not run that seed. A
    return_final left undefined (no episode finished) counts as 0, the lowest return: such
    a setting loses, it does not vanish."""
    sums, counts = seed_sums(done, groups, n_groups)
    ran = counts.max(axis=-1) > 0  # violations are defined for every trial that ran
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    returns = np.where(ran, np.nan_to_num(means[..., 0], nan=0.0), np.nan)
    return scores(returns, means[..., 1])


def setting_names(indices: list[list[int]], labels: Sequence[str]) -> list[str]:
    """Per row: the `labels` of its `indices`, in label order, separated by "; "."""
    return ["; ".join(sorted(labels[i] for i in row)) if row else "" for row in indices]


def pareto_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Aggregate completed trials over seeds into one row per setting (`PARETO_COLUMNS`).

    mean/std over seeds and the mean's t interval where enough seeds back it
    (`sweeps.intervals`, `ci_note` says which); `n_seeds_learned` counts the seeds whose
    return_final reached `LEARNED_RETURN`; `verdict`, `dominated_by`, `undecided_against`
    and `dominance_p` from paired tests over the shared seeds (`sweeps.verdicts`);
    `pareto_rank` and `on_front` from non-dominated sorting of the means (1 = front).
    """
    done = trials[trials["status"] == "TERMINATED"]
    groups, n = setting_groups(done)
    done, groups = done[groups >= 0], groups[groups >= 0]
    if n == 0:
        return pd.DataFrame(columns=list(PARETO_COLUMNS))
    first = np.unique(groups, return_index=True)[1]  # each setting's first row, in setting order
    # typed by their values, as columns built from them row by row would be
    table = done.iloc[first][["agent", "setting", *SETTING_COLUMNS]].reset_index(drop=True).infer_objects()
    table["n_seeds"] = done.groupby(groups)["seed"].nunique().to_numpy()
    learned = done["return_final"].to_numpy(dtype=float) >= LEARNED_RETURN
    table["n_seeds_learned"] = np.bincount(groups, weights=learned, minlength=n).astype(int)
    for name, _ in OBJECTIVES:
        values = done[name].to_numpy(dtype=float)
        counts = np.bincount(groups, weights=~np.isnan(values), minlength=n)
        table[f"{name}_mean"] = group_means(groups, values, n)
        table[f"{name}_std"] = group_stds(groups, values, n)
        learned_ = table["n_seeds_learned"].to_numpy() if name == "return_final" else None
        low, high, notes = printed_intervals(name, table[f"{name}_mean"], table[f"{name}_std"], counts, learned_)
        lowest, highest = RANGES[name]  # an interval past what the objective can be says nothing more
        table[f"{name}_ci_low"], table[f"{name}_ci_high"] = (
            np.clip(low, lowest, highest),
            np.clip(high, lowest, highest),
        )
        table[f"{name}_ci_note"] = notes
    labels = table["setting"].tolist()
    found = verdicts(per_seed_scores(done, groups, n))
    table["verdict"] = found.verdict
    table["dominated_by"] = setting_names(found.dominated_by, labels)
    table["undecided_against"] = setting_names(found.undecided_against, labels)
    table["dominance_p"] = found.dominance_p
    senses = [sense for _, sense in OBJECTIVES]
    points = table[[f"{name}_mean" for name, _ in OBJECTIVES]].to_numpy(dtype=float)
    ranks = pareto_ranks(worst_for_undefined(points, senses), senses)
    table["pareto_rank"] = ranks
    table["on_front"] = ranks == 1
    order = table["verdict"].map({v: i for i, v in enumerate(VERDICTS)})
    table = table.assign(_order=order).sort_values(["_order", "violations_total_mean"], kind="stable")
    return table[list(PARETO_COLUMNS)].reset_index(drop=True)


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


def seed_sums(done: pd.DataFrame, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts), each [n_groups, seeds, 2]: per setting and seed of the study, the sum
    and number of the defined objective values (`OBJECTIVES`) of its trials."""
    _, seed_index = np.unique(done["seed"].to_numpy(), return_inverse=True)
    values = done[[name for name, _ in OBJECTIVES]].to_numpy(dtype=float)
    sums = np.zeros((n_groups, int(seed_index.max()) + 1, 2))
    counts = np.zeros_like(sums)
    np.add.at(sums, (groups, seed_index.ravel()), np.nan_to_num(values))
    np.add.at(counts, (groups, seed_index.ravel()), ~np.isnan(values))
    return sums, counts


def jackknife_hypervolumes(sums: np.ndarray, counts: np.ndarray, ref: tuple[float, float]) -> np.ndarray:
    """[seeds]: the hypervolume of the settings' means with each seed of the study left out
    of every setting that ran it (a setting left with no value drops out of the front)."""
    senses = [sense for _, sense in OBJECTIVES]
    total, number = sums.sum(axis=1), counts.sum(axis=1)  # [n_groups, 2]
    out = np.empty(sums.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        for s in range(sums.shape[1]):
            means = (total - sums[:, s]) / (number - counts[:, s])
            out[s] = hypervolume_2d(means[~np.isnan(means).any(axis=1)], senses, ref)
    return out


def hypervolume_table(trials: pd.DataFrame, pareto: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The front's hypervolume (of the seed means in `pareto`, `pareto_table(trials)`) with
    its 95% interval; ``n_front`` counts pareto's ``on_front`` rows. One row,
    `HYPERVOLUME_COLUMNS`.

    The interval is the estimate ± t(n − 1) times its jackknife standard error over the
    study's n seeds, each seed left out of every setting at once (the settings share their
    layouts): it covers 0.91-0.94 from 2 seeds in benchmarks/statistical_properties.py,
    where percentile and BCa bootstraps of the seeds cover 0.48 at 2 seeds and 0.88 at 10.
    """
    done = trials[trials["status"] == "TERMINATED"]
    ref = reference_point(done)
    senses = [sense for _, sense in OBJECTIVES]
    names = [name for name, _ in OBJECTIVES]
    groups, n = setting_groups(done)
    if n == 0:
        return pd.DataFrame([dict.fromkeys(HYPERVOLUME_COLUMNS, float("nan"))])
    hv = hypervolume_2d(pareto[[f"{name}_mean" for name in names]].to_numpy(dtype=float), senses, ref)
    keep = groups >= 0
    sums, counts = seed_sums(done[keep], groups[keep], n)
    seeds = sums.shape[1]
    low = high = float("nan")
    note = f"none: 1 seed, a {100 * level:g}% interval needs 2"
    if seeds >= 2:
        left_out = jackknife_hypervolumes(sums, counts, ref)
        se = float(np.sqrt((seeds - 1) / seeds * np.sum((left_out - left_out.mean()) ** 2)))
        half = float(stats.t.ppf(0.5 + level / 2, seeds - 1)) * se
        low, high, note = max(0.0, hv - half), hv + half, f"jackknife t {100 * level:g}%"
    row = {
        "hypervolume": hv,
        "ci_low": low,
        "ci_high": high,
        "ci_note": note,
        "reference_return": ref[0],
        "reference_violations": ref[1],
        "n_front": int(pareto["on_front"].sum()),
    }
    return pd.DataFrame([row], columns=list(HYPERVOLUME_COLUMNS))


def check_schema(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ValueError when `frame`'s columns are not exactly `columns`, in order."""
    if list(frame.columns) != list(columns):
        raise ValueError(f"columns {list(frame.columns)} != documented {list(columns)}")

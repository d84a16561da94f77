"""Result tables: one row per trial (`trials.csv`), one row per setting (`pareto.csv`).

The schema of every column is documented in results/README.md and checked by the tests.
Functions take and return DataFrames; only `append_trial_row` touches files.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shield.settings import RELEVANT, ShieldParams, setting_label
from sweeps.pareto import (
    CHUNK,
    bootstrap_mean_cis,
    by_size,
    dominator_counts,
    dominators,
    group_means,
    group_stds,
    hypervolume_2d,
    pareto_ranks,
)

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


def setting_groups(done: pd.DataFrame) -> tuple[np.ndarray, int]:
    """(group [n], n_groups): each row's (agent, setting) as its index among them, sorted (the
    rows of pareto.csv before they are ranked); -1 for a row without one."""
    groups = done.groupby(["agent", "setting"], sort=True).ngroup().to_numpy(dtype=float)
    groups = np.nan_to_num(groups, nan=-1).astype(int)
    return groups, int(groups.max()) + 1 if len(groups) else 0


# dominated_by names at most this many settings; a row dominated by more says how many
# (a study of 10^5 settings would otherwise write 10^10 names)
DOMINATED_BY_LISTED = 10


def dominated_by(points: np.ndarray, senses: Sequence[int], ranks: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Per point of `points` [n, 2]: the `labels` of the points that dominate it, in label
    order, separated by "; "; "<k> settings" when more than `DOMINATED_BY_LISTED` do."""
    counts = dominator_counts(points, senses).tolist()
    listed = dominators(points, senses, ranks, DOMINATED_BY_LISTED)
    return [
        f"{count} settings" if names is None else "; ".join(labels[i] for i in names.tolist())
        for names, count in zip(listed, counts, strict=True)
    ]


def pareto_table(trials: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """Aggregate completed trials over seeds into one row per setting (`PARETO_COLUMNS`).

    mean/std/ci over seeds (percentile bootstrap 95% CI of the mean); `n_seeds_learned`
    counts the seeds whose return_final reached `LEARNED_RETURN`; `pareto_rank` from
    non-dominated sorting of the means (1 = front); `dominated_by` lists the settings
    whose means dominate this one, separated by "; " (or counts them: `dominated_by`).
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
    names = [name for name, _ in OBJECTIVES]
    low, high = bootstrap_mean_cis(groups, done[names].to_numpy(dtype=float), n, n_boot=n_boot)
    for j, name in enumerate(names):
        values = done[name].to_numpy(dtype=float)
        table[f"{name}_mean"] = group_means(groups, values, n)
        table[f"{name}_std"] = group_stds(groups, values, n)
        table[f"{name}_ci_low"], table[f"{name}_ci_high"] = low[:, j], high[:, j]
    senses = [sense for _, sense in OBJECTIVES]
    points = table[[f"{name}_mean" for name, _ in OBJECTIVES]].to_numpy(dtype=float)
    points = worst_for_undefined(points, senses)
    ranks = pareto_ranks(points, senses)
    table["pareto_rank"] = ranks
    table["on_front"] = ranks == 1
    table["dominated_by"] = dominated_by(points, senses, ranks, table["setting"].tolist())
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


def resampled_hypervolumes(
    values: np.ndarray, groups: np.ndarray, n_groups: int, ref: tuple[float, float], n_boot: int, seed: int
) -> np.ndarray:
    """[n_boot] hypervolumes of the settings' means, each over its seeds resampled with
    replacement. values: [n, 2] objectives per trial (NaN: undefined, left out of a mean);
    groups: [n] each trial's setting.

    The draws are those of one loop over draws and settings in order, each setting drawing
    `rng.integers(k, size=k)` for its k seeds, and each mean sums its values one after the
    other: one setting at a time did so, and the committed tables rebuild to the last bit.
    Settings of one size in a row draw in one call (the generator's stream is the same). A
    setting of one seed draws nothing and never changes: of those, only the ones on their
    own front can add area.
    """
    senses = [sense for _, sense in OBJECTIVES]
    sizes = np.bincount(groups, minlength=n_groups)
    resampled = sizes[groups] > 1
    fixed = values[~resampled]
    fixed = fixed[np.all(fixed * senses > np.asarray(ref) * senses, axis=1)]  # the others add nothing
    fixed = fixed[pareto_ranks(fixed, senses) == 1]
    if not resampled.any():
        return np.full(n_boot, hypervolume_2d(fixed, senses, ref))
    order = np.argsort(groups[resampled], kind="stable")
    v = values[resampled][order]  # [r, 2], setting after setting
    ids = np.unique(groups[resampled], return_inverse=True)[1].ravel()[order]  # [r]: setting, in 0..g-1
    k = sizes[sizes > 1]  # [g] seeds per setting
    starts = np.cumsum(k) - k  # [g] each setting's first row
    base = np.repeat(starts, k)  # [r]
    edges = [*np.flatnonzero(np.r_[True, k[1:] != k[:-1]]).tolist(), len(k)]
    runs = [(int(k[a]), int(starts[a]), int(starts[b]) if b < len(k) else len(v)) for a, b in itertools.pairwise(edges)]
    defined = ~np.isnan(v)
    zeroed = [np.ascontiguousarray(np.where(defined[:, j], v[:, j], 0.0)) for j in range(2)]
    counted = [None if defined[:, j].all() else defined[:, j].astype(float) for j in range(2)]  # exact counts
    rng = np.random.default_rng(seed)
    hypervolumes = []
    step = max(1, CHUNK // len(v))
    for first in range(0, n_boot, step):
        d = min(step, n_boot - first)
        picks = np.empty((len(v), d), dtype=np.int64)  # [r, d]: each draw's picks, a column
        for i in range(d):
            for size, start, stop in runs:
                picks[start:stop, i] = rng.integers(size, size=stop - start)
        means = np.empty((d, len(k), 2))
        for batch, rows in by_size(ids, len(k)):
            rows = np.ascontiguousarray(rows.T)  # [size, batch]
            # [size, batch, d]: summed over its first axis, one value after the other
            drawn = np.take(picks, rows, axis=0) + base[rows][..., None]
            for j in range(2):
                sums = np.take(zeroed[j], drawn).sum(axis=0)
                counts = rows.shape[0] if counted[j] is None else np.take(counted[j], drawn).sum(axis=0)
                means[:, batch, j] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).T
        hypervolumes += [hypervolume_2d(np.concatenate([fixed, m]), senses, ref) for m in means]
    return np.asarray(hypervolumes)


def hypervolume_table(trials: pd.DataFrame, pareto: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The front's hypervolume (of the seed means in `pareto`, `pareto_table(trials)`) with a
    bootstrap CI over seeds; ``n_front`` counts pareto's ``on_front`` rows.

    Each bootstrap draw resamples every setting's seeds with replacement, recomputes the
    means and the hypervolume of their front (`resampled_hypervolumes`). One row,
    `HYPERVOLUME_COLUMNS`.
    """
    done = trials[trials["status"] == "TERMINATED"]
    ref = reference_point(done)
    senses = [sense for _, sense in OBJECTIVES]
    names = [name for name, _ in OBJECTIVES]
    # the settings of pareto.csv, grouped alike
    groups, n = setting_groups(done)
    if n == 0:
        return pd.DataFrame([dict.fromkeys(HYPERVOLUME_COLUMNS, float("nan"))])
    hv = hypervolume_2d(pareto[[f"{name}_mean" for name in names]].to_numpy(dtype=float), senses, ref)
    values = done[names].to_numpy(dtype=float)[groups >= 0]
    draws = resampled_hypervolumes(values, groups[groups >= 0], n, ref, n_boot, seed)
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

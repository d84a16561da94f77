"""visitation.csv: where each trial's agent went, one row per trial and visited grid cell.

Each trial's callbacks count the steps taken from every cell over the whole of training
(`rllib_algos.callbacks`, ``env_runners/shield/visits``); this module turns a trial's last
result into rows and the rows into per-setting grids. Columns (results/README.md):
``trial_id``, ``x`` (column), ``y`` (row), ``visits`` (steps taken from that cell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rllib_algos.metrics import VISITS, visit_cell

VISIT_COLUMNS = ("trial_id", "x", "y", "visits")


def visit_rows(trial_id: str, result: dict) -> list[dict]:
    """The `VISIT_COLUMNS` rows of one trial from its last result (none when it has no counts)."""
    counts = result.get("env_runners", {}).get("shield", {}).get(VISITS, {})
    rows = []
    for key, visits in sorted(counts.items()) if isinstance(counts, dict) else ():
        x, y = visit_cell(key)
        rows.append({"trial_id": trial_id, "x": x, "y": y, "visits": int(visits)})
    return rows


def visit_grid(visits: pd.DataFrame, trial_ids: list[str], shape: tuple[int, int]) -> np.ndarray:
    """The visits of the trials `trial_ids`, summed per cell, as a grid [rows, columns] of
    `shape` (height, width)."""
    grid = np.zeros(shape)
    rows = visits[visits["trial_id"].astype(str).isin([str(t) for t in trial_ids])]
    np.add.at(grid, (rows["y"].to_numpy(dtype=int), rows["x"].to_numpy(dtype=int)), rows["visits"].to_numpy(float))
    return grid


def layout_seed(trials: pd.DataFrame) -> int | None:
    """The seed whose layout the heat maps show: the first (smallest) seed that every setting
    finished; else the smallest finished seed; None when no trial finished."""
    done = trials[trials["status"] == "TERMINATED"]
    if done.empty:
        return None
    per_setting = [set(group["seed"].astype(int)) for _, group in done.groupby("setting")]
    shared = set.intersection(*per_setting)
    return int(min(shared or set(done["seed"].astype(int))))

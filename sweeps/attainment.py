"""Each seed's front, and what the seeds attain together: empirical attainment surfaces.

pareto.csv ranks the settings by their means over seeds; a mean can sit where no seed did
(one seed learns with many deaths, another dies little without learning). Here each seed
is one run of the study: its front is the non-dominated set of the settings' points of that
seed (maximise return_final, minimise violations_total), and the k-th attainment surface
(moocore's empirical attainment function) bounds the goals (return, violations) that at
least k of the n seeds' fronts reach: some setting of the seed has at least that return
with at most those violations. k = 1 is the best surface, k = ceil(n / 2) the median,
k = n the worst. Columns of `attainment.csv`: results/README.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import moocore
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sweeps.plot_style import (
    DPI,
    LABEL_SIZE,
    SEED_SIZE,
    TEXT_SIZE,
    add_title,
    draw,
    run_summary,
    save,
    set_violations_scale,
    violations_limits,
)
from sweeps.results import OBJECTIVES

OBJECTIVE_NAMES = tuple(name for name, _ in OBJECTIVES)
MAXIMISE = (True, False)
FRONT_COLUMNS = ("seed", "agent", "setting", "mode", *OBJECTIVE_NAMES)
ATTAINMENT_COLUMNS = ("surface", "percentile", "n_seeds_attaining", "n_seeds", *OBJECTIVE_NAMES)
FRONTS_DRAWN = 10  # seeds whose fronts attainment.png draws, one colour each (tab10)


def finished(trials: pd.DataFrame) -> np.ndarray:
    """[n]: which trials are TERMINATED and have a seed."""
    return trials["status"].eq("TERMINATED").to_numpy(dtype=bool) & trials["seed"].notna().to_numpy()


def finished_seeds(trials: pd.DataFrame) -> np.ndarray:
    """The seeds of the finished trials, ascending, once each."""
    return np.unique(trials["seed"].to_numpy()[finished(trials)])


def seed_fronts(trials: pd.DataFrame) -> pd.DataFrame:
    """Per seed, its front: the finished trials of that seed whose (return_final,
    violations_total) no other trial of the seed dominates; identical points all stay.
    `FRONT_COLUMNS`, by seed, then violations (fewest first), then return.

    A trial with an undefined objective (no episode finished) is left out: it reaches no
    goal that a defined point could, so the attainment surfaces do not change.
    """
    points = trials[list(OBJECTIVE_NAMES)].to_numpy(dtype=float)
    # positions, not rows: taking rows of trials.csv's 30 columns costs more than the fronts
    rows = np.flatnonzero(finished(trials) & np.isfinite(points).all(axis=1))
    seeds = trials["seed"].to_numpy()[rows]
    order = np.argsort(seeds, kind="stable")
    rows, seeds = rows[order], seeds[order]
    starts = np.flatnonzero(np.r_[True, seeds[1:] != seeds[:-1]]) if len(rows) else np.empty(0, dtype=int)
    keep = np.zeros(len(rows), dtype=bool)
    for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(rows)], strict=True):
        keep[start:stop] = moocore.is_nondominated(points[rows[start:stop]], maximise=MAXIMISE, keep_weakly=True)
    fronts = trials.iloc[rows[keep]][list(FRONT_COLUMNS)]
    return fronts.sort_values(["seed", "violations_total", "return_final"], kind="stable").reset_index(drop=True)


def surface_levels(n_seeds: int) -> dict[str, int]:
    """{surface: seeds that must attain a goal}: best 1, median ceil(n / 2), worst n."""
    return {"best": 1, "median": math.ceil(n_seeds / 2), "worst": n_seeds}


def attainment_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The best, median and worst attainment surfaces of the finished trials' seeds
    (`seed_fronts`, one point set per seed): one row per vertex, `ATTAINMENT_COLUMNS`, by
    surface, then violations. ``percentile`` is 100 · n_seeds_attaining / n_seeds.

    Every seed with a finished trial counts in n_seeds, also one without a defined point: it
    attains nothing, so no goal is attained by all seeds and the worst surface is empty.
    """
    seeds = finished_seeds(trials)
    n_seeds = len(seeds)
    if n_seeds == 0:
        return pd.DataFrame(columns=list(ATTAINMENT_COLUMNS))
    fronts = seed_fronts(trials)
    # moocore minimises, and reads the rows of one set as one block, the blocks in set order
    points = np.c_[-fronts["return_final"].to_numpy(dtype=float), fronts["violations_total"].to_numpy(dtype=float)]
    sets = np.searchsorted(seeds, fronts["seed"].to_numpy())
    empty = np.setdiff1d(np.arange(n_seeds), sets)  # seeds without a point: one unreachable each
    points = np.r_[points, np.full((len(empty), 2), np.inf)]
    sets = np.r_[sets, empty]
    order = np.argsort(sets, kind="stable")
    levels = surface_levels(n_seeds)
    # 100 k / n maps back to exactly k seeds in moocore (checked for every k of n < 40)
    vertices = moocore.eaf(points[order], sets[order], percentiles=[100.0 * k / n_seeds for k in levels.values()])
    attaining = np.rint(vertices[:, 2] * n_seeds / 100.0).astype(int)
    rows = []
    for surface, k in levels.items():
        at = vertices[(attaining == k) & np.isfinite(vertices[:, :2]).all(axis=1)]
        at = at[np.lexsort((-at[:, 0], at[:, 1]))]  # by violations, then return
        rows.append(
            pd.DataFrame(
                {
                    "surface": surface,
                    "percentile": 100.0 * k / n_seeds,
                    "n_seeds_attaining": k,
                    "n_seeds": n_seeds,
                    "return_final": -at[:, 0],
                    "violations_total": at[:, 1],
                },
                columns=list(ATTAINMENT_COLUMNS),
            )
        )
    return pd.concat(rows, ignore_index=True)


def staircase(violations: np.ndarray, returns: np.ndarray, x_end: float, y_floor: float) -> tuple[np.ndarray, ...]:
    """(x, y) of the boundary of what the points attain (violations [n] ascending, returns
    [n] rising with them): up from `y_floor` at the first point, then along each point's
    return until the next point's violations, and on to `x_end`."""
    return np.r_[np.repeat(violations, 2), x_end], np.r_[y_floor, np.repeat(returns, 2)]


def attainment_figure(surfaces: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure:
    """Violations (x) against return (y): each seed's front as a thin step line through its
    points, one colour per seed (the lowest `FRONTS_DRAWN` seeds), and the median attainment
    surface as a thick black step line; the best and worst surfaces dashed and dotted where
    they differ from the median. Violations on a log axis when they span more than 10×.

    surfaces: attainment.csv rows (`attainment_table(trials)`); trials: trials.csv rows.
    """
    fronts = seed_fronts(trials)
    seeds = finished_seeds(trials)
    drawn = seeds[:FRONTS_DRAWN]
    fig = Figure(figsize=(10, 6.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    violations = np.r_[fronts["violations_total"].to_numpy(float), surfaces["violations_total"].to_numpy(float)]
    returns = np.r_[fronts["return_final"].to_numpy(float), surfaces["return_final"].to_numpy(float)]
    log = set_violations_scale(ax, "x", violations)
    xlim = violations_limits(violations, log)
    low, high = (float(returns.min()), float(returns.max())) if len(returns) else (0.0, 1.0)
    pad = max(0.08 * (high - low), 0.01)
    ylim = (low - pad, high + pad)
    for i, seed in enumerate(drawn.tolist()):
        front = fronts[fronts["seed"] == seed]
        v, r = front["violations_total"].to_numpy(float), front["return_final"].to_numpy(float)
        if len(v):
            # over the surfaces: a seed's front often runs along one (the best, with few seeds)
            line = staircase(v, r, xlim[1], ylim[0])
            ax.plot(*line, color=f"C{i}", lw=1.1, alpha=0.9, label=f"seed {int(seed)}", zorder=3)
            ax.plot(v, r, "o", color=f"C{i}", ms=SEED_SIZE, alpha=0.9, zorder=3)
    levels = surface_levels(len(seeds))
    for surface, ls, lw in (("median", "-", 3.2), ("best", "--", 1.6), ("worst", ":", 2.0)):
        at = surfaces[surfaces["surface"] == surface]
        if at.empty or (surface != "median" and levels[surface] == levels["median"]):
            continue
        v, r = at["violations_total"].to_numpy(float), at["return_final"].to_numpy(float)
        label = f"{surface}: {levels[surface]} of {len(seeds)} seeds"
        ax.plot(*staircase(v, r, xlim[1], ylim[0]), color="black", ls=ls, lw=lw, label=label, zorder=2)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    scale = " (log scale)" if log else ""
    ax.set_xlabel(f"violations_total (lava deaths in training){scale}", fontsize=LABEL_SIZE)
    ax.set_ylabel("return_final", fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.grid(alpha=0.3)
    # as many entries a row as fit the figure's width (about 13 characters an inch at 10
    # points, and a handle's worth more per entry)
    labels = ax.get_legend_handles_labels()[1]
    ncols = max(1, min(5, int(fig.get_figwidth() * 13) // (max(map(len, labels), default=1) + 6)))
    if labels:
        legend_title = "thin: a seed's front; black: an attainment surface, reached by k of n seeds"
        fig.legend(
            loc="outside lower center", ncols=ncols, fontsize=TEXT_SIZE, title=legend_title, title_fontsize=TEXT_SIZE
        )
    which = (
        "each seed's front"
        if len(drawn) == len(seeds)
        else f"the fronts of the lowest {len(drawn)} of {len(seeds)} seeds"
    )
    subtitle = (
        f"{run_summary(trials)}: thin, {which} (a seed's non-dominated settings); thick, the median "
        "attainment surface (the returns and violations that at least half the seeds' fronts reach)"
    )
    add_title(fig, title, subtitle)
    draw(fig)
    return fig


def plot_attainment(surfaces: pd.DataFrame, trials: pd.DataFrame, path: Path, title: str) -> None:
    """Write `attainment_figure` to `path`."""
    save(attainment_figure(surfaces, trials, title), path)


def write_attainment(folder: Path, trials: pd.DataFrame, title: str) -> dict[str, Path]:
    """Write attainment.csv and attainment.png into `folder` when some finished trial has
    both objectives defined; else remove an earlier report's. Return the paths written."""
    paths = {name: Path(folder) / name for name in ("attainment.csv", "attainment.png")}
    surfaces = attainment_table(trials)
    if surfaces.empty:  # no defined point: not even the best surface has a vertex
        for path in paths.values():
            path.unlink(missing_ok=True)  # an earlier report's would describe other trials
        return {}
    surfaces.to_csv(paths["attainment.csv"], index=False)
    plot_attainment(surfaces, trials, paths["attainment.png"], title)
    return paths

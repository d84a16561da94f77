"""curves_return.png and curves_violations.png: an objective against environment steps, per
setting the mean over seeds (bold) over every seed (thin)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sweeps.plot_style import (
    DPI,
    LABEL_SIZE,
    TEXT_SIZE,
    add_title,
    draw,
    labels_of,
    save,
    set_violations_scale,
    setting_styles,
    short_labels,
)


def mean_curve(group: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps [n], mean [n], seeds): the mean over seeds of `column`, each seed's reports
    joined by straight lines, at the steps any seed reported within the range all seeds
    cover (trials stop a few hundred steps apart).

    The seeds' lines summed are one straight line between consecutive steps, whose slope is
    the sum of the seeds' slopes there: one cumulative sum over the steps gives the sum, for
    any number of seeds, instead of interpolating every seed at every step.
    """
    clean = group.dropna(subset=["env_steps", column]).sort_values(["seed", "env_steps"], kind="stable")
    clean = clean.drop_duplicates(["seed", "env_steps"], keep="last")
    if clean.empty:
        return np.empty(0), np.empty(0), 0
    seed = clean["seed"].to_numpy()
    x, y = clean["env_steps"].to_numpy(dtype=float), clean[column].to_numpy(dtype=float)
    first = np.flatnonzero(np.r_[True, seed[1:] != seed[:-1]])
    last = np.r_[first[1:], len(x)] - 1
    left = np.setdiff1d(np.arange(len(x)), last)  # each segment's left report
    slope = (y[left + 1] - y[left]) / (x[left + 1] - x[left])
    steps = np.unique(x)
    # the sum of the slopes on each gap between steps: each segment's, from its start to its end
    change = np.bincount(np.searchsorted(steps, x[left]), weights=slope, minlength=len(steps))
    change -= np.bincount(np.searchsorted(steps, x[left + 1]), weights=slope, minlength=len(steps))
    rise = np.r_[0.0, np.cumsum(np.cumsum(change)[:-1] * np.diff(steps))]
    keep = (steps >= x[first].max()) & (steps <= x[last].min())
    return steps[keep], (y[first].sum() + rise[keep]) / len(first), len(first)


def final_values(curves: pd.DataFrame, column: str) -> np.ndarray:
    """Every trial's last reported `column` [trials]."""
    clean = curves.dropna(subset=["env_steps", column]).sort_values("env_steps")
    return clean.groupby(["setting", "seed"])[column].last().to_numpy(dtype=float)


LEGEND_ROW_IN = 0.22  # height of a legend row at TEXT_SIZE, inches
SEED_LINES_MOST = 50  # thin lines drawn per setting: more would only thicken the bundle


def curves_figure(
    curves: pd.DataFrame, column: str, ylabel: str, title: str, subtitle: str, settings: Sequence[str] | None = None
) -> Figure:
    """`column` against env steps, one colour per setting: every seed as a thin faint line
    (the first `SEED_LINES_MOST` seeds of a setting) under the mean over seeds (bold), so a
    bimodal setting shows as two bundles. Violations go on a log axis when the trials' final
    counts span more than 10× (`log_axis`).

    curves: long table with columns setting, seed, env_steps and `column`; settings: those
    to draw (default: all), named by what tells them apart among all of `curves`.
    """
    fig = Figure(figsize=(10, 6.4), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    names = short_labels(labels_of(curves))
    if settings is not None:
        curves = curves[curves["setting"].isin(settings)]
    settings = labels_of(curves)
    styles = setting_styles(settings)
    capped = False
    for setting, group in curves.groupby("setting", sort=True):
        steps, mean, n_seeds = mean_curve(group, column)
        if not len(steps):
            continue
        colour, dashes = styles[setting]
        label = f"{names[setting]} (mean of {n_seeds} seeds)"
        ax.plot(steps, mean, lw=2.4, color=colour, ls=dashes, label=label, zorder=3)
        clean = group.dropna(subset=["env_steps", column])
        drawn = np.sort(clean["seed"].unique())[:SEED_LINES_MOST]
        capped |= n_seeds > len(drawn)
        runs = clean[clean["seed"].isin(drawn)].sort_values(["seed", "env_steps"], kind="stable")
        seeds = runs["seed"].to_numpy()
        lines = np.split(runs[["env_steps", column]].to_numpy(dtype=float), np.flatnonzero(seeds[1:] != seeds[:-1]) + 1)
        # one artist for a setting's seeds, styled as a line of its own would be
        ax.add_collection(
            LineCollection(lines, lw=0.8, alpha=0.35, color=colour, capstyle="projecting", joinstyle="round")
        )
    log = column == "violations_total" and set_violations_scale(ax, "y", final_values(curves, column))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1000:g}K" if value else "0"))
    ax.set_xlabel("environment steps", fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""), fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.grid(alpha=0.3)
    thin = f"the first {SEED_LINES_MOST} seeds of each" if capped else "single seeds"
    # side by side as long as a row of them fits the figure's width (about 11 characters an
    # inch); a legend of many rows makes the figure taller rather than the plot smaller
    labels = ax.get_legend_handles_labels()[1]
    longest = max(map(len, labels), default=1)
    ncols = max(1, min(2 if len(settings) > 3 else len(settings), int(fig.get_figwidth() * 11) // longest))
    fig.set_figheight(fig.get_figheight() + LEGEND_ROW_IN * max(0, -(-len(labels) // ncols) - 6))
    fig.legend(
        loc="outside lower center",
        ncols=ncols,
        fontsize=TEXT_SIZE,
        title=f"bold: mean over seeds; thin: {thin}",
        title_fontsize=TEXT_SIZE,
    )
    add_title(fig, title, subtitle)
    draw(fig)
    return fig


def plot_curves(
    curves: pd.DataFrame,
    column: str,
    ylabel: str,
    path: Path,
    title: str,
    subtitle: str,
    settings: Sequence[str] | None = None,
) -> None:
    """Write `curves_figure` to `path`."""
    save(curves_figure(curves, column, ylabel, title, subtitle, settings), path)

"""paper_comparison.png: ours beside the paper's figures, per method of the paper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sweeps.plot_style import (
    DPI,
    LABEL_SIZE,
    TEXT_SIZE,
    add_title,
    draw,
    finished_seeds,
    labels_of,
    run_summary,
    save,
    set_violations_scale,
    short_labels,
)


def comparison_figure(table: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure:
    """Ours beside the paper's figures, one bar pair per method: final return (left) and
    cumulative violations (right); ours is the mean over seeds with each seed as a dot, the
    paper's the mean of its 3 seeds. Each bar carries its value above it (and above its
    seeds); a figure the paper does not give in its text is marked so instead of drawn as 0.

    table: paper_comparison.csv rows of a comparable run; trials: trials.csv rows.
    """
    fig = Figure(figsize=(11, 5.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, 2)
    names = short_labels(labels_of(trials, table))
    seeds = finished_seeds(trials)
    for ax, column, label, fmt in (
        (axes[0], "return_final", "return_final: mean of the last 100 episodes", "{:.2f}"),
        (axes[1], "violations_total", "violations_total: lava deaths during training", "{:.0f}"),
    ):
        comparison_panel(ax, table, seeds, column, fmt)
        ax.set_xticks(np.arange(len(table)), [names[s].replace(" ", "\n", 1) for s in table["setting"]])
        ax.set_ylabel(label + (" (log scale)" if ax.get_yscale() == "symlog" else ""), fontsize=LABEL_SIZE)
        ax.tick_params(labelsize=TEXT_SIZE)
        ax.grid(alpha=0.3, axis="y")
    handles = [
        Patch(color="tab:blue", label="ours: mean over seeds"),
        Line2D([], [], marker="o", color="black", alpha=0.5, ls="", ms=3.5, label="ours: one seed"),
        Patch(color="tab:gray", label="the paper: mean of 3 seeds at 200K steps, read off its plots"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=TEXT_SIZE)
    add_title(fig, title, f"{run_summary(trials)}: ours beside the paper's figures, on its env at its 200K steps")
    draw(fig)
    return fig


def comparison_panel(ax, table: pd.DataFrame, seeds: pd.DataFrame, column: str, fmt: str) -> None:
    """One objective's bar pairs (ours left, the paper's right) with our seeds as dots and
    each bar's value written above the higher of the bar and its seeds."""
    ours, paper = table[f"{column}_mean"].to_numpy(float), table[f"{column}_paper"].to_numpy(float)
    per_setting = [seeds.loc[seeds["setting"] == s, column].to_numpy(float) for s in table["setting"]]
    values = np.concatenate([ours, paper, *per_setting])
    log = column == "violations_total" and set_violations_scale(ax, "y", values)
    x = np.arange(len(table))
    ax.bar(x - 0.2, ours, 0.4, color="tab:blue")
    ax.bar(x + 0.2, np.nan_to_num(paper), 0.4, color="tab:gray")
    for i, values_i in enumerate(per_setting):
        offsets = np.linspace(-0.12, 0.12, len(values_i)) if len(values_i) > 1 else np.zeros(len(values_i))
        ax.plot(i - 0.2 + offsets, values_i, "o", color="black", ms=3.5, alpha=0.5, zorder=3)
        top = np.nanmax([ours[i], *values_i]) if np.isfinite([ours[i], *values_i]).any() else 0.0
        value_label(ax, i - 0.2, top, fmt.format(ours[i]) if np.isfinite(ours[i]) else "none")
        value_label(
            ax,
            i + 0.2,
            paper[i] if np.isfinite(paper[i]) else 0.0,
            fmt.format(paper[i]) if np.isfinite(paper[i]) else "not\ngiven",
        )
    high = np.nanmax(values) if np.isfinite(values).any() else 1.0
    ax.set_ylim(0, high * (3 if log else 1.18))


def value_label(ax, x: float, y: float, text: str) -> None:
    """`text` centred just above (x, y) in data coordinates."""
    ax.annotate(
        text, (x, y), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=TEXT_SIZE - 1
    )


def plot_paper_comparison(table: pd.DataFrame, trials: pd.DataFrame, path: Path, title: str) -> None:
    """Write `comparison_figure` to `path`."""
    save(comparison_figure(table, trials, title), path)

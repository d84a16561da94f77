"""Plots of a study: the Pareto front, learning curves and cumulative violations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

BASELINE_MARKERS = {"dqn": ("s", "tab:gray"), "priors": ("D", "tab:brown")}


def short_labels(settings: list[str]) -> dict[str, str]:
    """{setting label: what tells it apart}. A shield label drops each setting whose value is
    the same in every shield label that names it, unless dropping it would make two labels
    alike ("shield" alone when there is one shield setting); baselines drop ``tau=0``."""
    shield = {label: label.split()[1:] for label in settings if label.startswith("shield")}

    def key(token: str) -> str:
        return token.split("=")[0]

    dropped: set[str] = set()
    # the most specific settings (last in a label) go first, so that `d_max_rule=adaptive`
    # outlives the parameters it implies
    for name in reversed(dict.fromkeys(key(t) for tokens in shield.values() for t in tokens)):
        values = {t for tokens in shield.values() for t in tokens if key(t) == name}
        if len(values) != 1:
            continue
        short = {tuple(t for t in tokens if key(t) not in dropped | {name}) for tokens in shield.values()}
        if len(short) == len(shield):
            dropped.add(name)
    out = {}
    for label in settings:
        tokens = label.split()
        if tokens[0] == "shield":
            out[label] = " ".join(["shield", *(t for t in tokens[1:] if key(t) not in dropped)])
        else:
            out[label] = " ".join(t for t in tokens if t != "tau=0")
    return out


def plot_pareto(table: pd.DataFrame, path: Path, title: str) -> None:
    """Return vs violations, one point per setting with 95% CI bars; the front joined.

    Each point is labelled with what tells it apart and how many seeds learned (k/n);
    labels are stacked in a column at the right, joined to their points, so none overprint.
    """
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    names = short_labels(table["setting"].tolist())
    labels = [names[setting] for setting in table["setting"]]
    points = []
    for label, (_, row) in zip(labels, table.iterrows(), strict=True):
        x, y = row["violations_total_mean"], row["return_final_mean"]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        xerr = [[x - row["violations_total_ci_low"]], [row["violations_total_ci_high"] - x]]
        yerr = [[y - row["return_final_ci_low"]], [row["return_final_ci_high"] - y]]
        marker, color = BASELINE_MARKERS.get(row["mode"], ("o", "tab:blue" if row["on_front"] else "tab:cyan"))
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, color=color, capsize=3, ms=7)
        learned = f" ({int(row['n_seeds_learned'])}/{int(row['n_seeds'])} learned)" if "n_seeds_learned" in row else ""
        points.append((y, x, label + learned, color))
    front = table[table["on_front"]].sort_values("violations_total_mean")
    if len(front) > 1:
        ax.plot(front["violations_total_mean"], front["return_final_mean"], "--", color="tab:red")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(left=0)
    # labels in a column right of the axes, ordered by return so their lines do not cross
    for i, (y, x, text, color) in enumerate(sorted(points, reverse=True)):
        slot = 1.0 - (i + 0.5) / max(len(points), 1)
        ax.annotate(
            text,
            (x, y),
            xytext=(1.03, slot),
            textcoords="axes fraction",
            fontsize=8,
            va="center",
            color=color if color != "tab:cyan" else "tab:blue",
            arrowprops=dict(arrowstyle="-", color="0.6", lw=0.6),
        )
    ax.set_xlabel("violations_total (lava deaths during training; lower is better)")
    ax.set_ylabel("return_final (last 100 episodes; higher is better)")
    handles = [Line2D([], [], marker=m, color=c, ls="", label=mode) for mode, (m, c) in BASELINE_MARKERS.items()] + [
        Line2D([], [], marker="o", color="tab:blue", ls="", label="shield, on the front"),
        Line2D([], [], marker="o", color="tab:cyan", ls="", label="shield, dominated"),
    ]
    if len(front) > 1:
        handles.append(Line2D([], [], ls="--", color="tab:red", label="Pareto front"))
    ax.legend(handles=handles, loc="best", fontsize=8)
    ax.set_title(textwrap.fill(title, 70), fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.subplots_adjust(right=0.62)
    fig.savefig(path, dpi=110)


def seed_grid(group: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps [n], values [n, seeds]): every seed's `column` interpolated onto the steps any
    seed reported, within the range all seeds cover (trials stop a few hundred steps apart).
    """
    clean = group.dropna(subset=["env_steps", column]).sort_values("env_steps")
    runs = [g for _, g in clean.groupby("seed", sort=True)]
    if not runs:
        return np.empty(0), np.empty((0, 0))
    low = max(float(g["env_steps"].min()) for g in runs)
    high = min(float(g["env_steps"].max()) for g in runs)
    steps = np.unique(np.concatenate([g["env_steps"].to_numpy(dtype=float) for g in runs]))
    steps = steps[(steps >= low) & (steps <= high)]
    values = np.stack(
        [np.interp(steps, g["env_steps"].to_numpy(dtype=float), g[column].to_numpy(dtype=float)) for g in runs],
        axis=1,
    )
    return steps, values


def plot_curves(curves: pd.DataFrame, column: str, ylabel: str, path: Path, title: str) -> None:
    """`column` against env steps, one colour per setting: every seed as a thin faint line
    under the mean over seeds (bold), so a bimodal setting shows as two bundles.

    curves: long table with columns setting, seed, env_steps and `column`.
    """
    fig = Figure(figsize=(8.5, 6))
    ax = fig.subplots()
    names = short_labels(sorted(curves["setting"].unique()))
    for setting, group in curves.groupby("setting", sort=True):
        steps, values = seed_grid(group, column)
        if not len(steps):
            continue
        label = names[setting]
        (line,) = ax.plot(steps, values.mean(axis=1), lw=2.2, label=f"{label} (mean of {values.shape[1]} seeds)")
        for _, seed in group.dropna(subset=["env_steps", column]).groupby("seed"):
            seed = seed.sort_values("env_steps")
            ax.plot(seed["env_steps"], seed[column], lw=0.8, alpha=0.3, color=line.get_color())
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.set_title(textwrap.fill(title, 80), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=2,
        title="bold: mean over seeds; thin: single seeds",
        title_fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_paper_comparison(table: pd.DataFrame, path: Path, title: str) -> None:
    """Ours beside the paper's figures: return (left) and violations (right), one bar pair per method.

    table: paper_comparison.csv rows (sweeps.paper_figures.COMPARISON_COLUMNS).
    """
    fig = Figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2)
    x = np.arange(len(table))
    for ax, column, label in (
        (axes[0], "return_final", "training return at the end (mean over seeds)"),
        (axes[1], "violations_total", "cumulative violations"),
    ):
        ax.bar(x - 0.2, table[f"{column}_mean"], 0.4, label="shieldsweep", color="tab:blue")
        ax.bar(x + 0.2, table[f"{column}_paper"], 0.4, label="paper (200K steps)", color="tab:gray")
        ticks = [m.replace(" (", "\n(").replace("DQN + domain priors", "priors") for m in table["method"]]
        ax.set_xticks(x, ticks, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)

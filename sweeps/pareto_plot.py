"""pareto.png: return against violations, per setting the mean over seeds with its 95%
CI bars, every seed, the Pareto front, and a label per named mean (`sweeps.pareto_labels`);
means crowded together get a zoomed panel of their own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox
from scipy.cluster.hierarchy import fcluster, linkage

from sweeps.intervals import INTERVALS_SAID
from sweeps.pareto_labels import label_points, mean_labels, obstacles
from sweeps.plot_style import (
    BASELINE_MARKERS,
    CLOUD_SIZE,
    DPI,
    LABEL_SIZE,
    MEAN_SIZE,
    NAMED_MOST,
    SEED_SIZE,
    SHIELD_MARKER,
    TEXT_SIZE,
    add_title,
    draw,
    finished_seeds,
    labels_of,
    run_summary,
    save,
    set_violations_scale,
    short_labels,
    violations_limits,
)
from sweeps.verdicts import VERDICT_MIN_SEEDS


def front_points(table: pd.DataFrame) -> pd.DataFrame:
    """The front's points in the order its line joins them: pareto.csv's rows whose verdict
    is ``front``, with defined means, by violations (fewest first) then return."""
    front = table[table["verdict"] == "front"]
    front = front[np.isfinite(front["violations_total_mean"]) & np.isfinite(front["return_final_mean"])]
    return front.sort_values(["violations_total_mean", "return_final_mean"])


# marker fill by pareto.csv's verdict: what the seeds support is what the eye reads first
FILLS = {"front": "full", "undecided": "left", "dominated": "none"}


def point_style(mode: str, verdict: str) -> tuple[str, str, str]:
    """(marker, colour, fill style): the marker and colour by mode, filled on the front,
    half-filled when undecided, hollow when dominated with confidence."""
    marker, colour = BASELINE_MARKERS.get(mode, SHIELD_MARKER)
    return marker, colour, FILLS.get(verdict, "full")


def bars(low: float, mean: float, high: float) -> list[list[float]]:
    """Error-bar lengths below and above `mean`; none where the interval is empty."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return [[np.nan], [np.nan]]  # nothing drawn, not even the caps
    return [[mean - low], [high - mean]]


CROWDED_PX = 40  # means closer than this on the full plot get a zoomed panel


def crowded(points: np.ndarray, radius: float = CROWDED_PX) -> list[int]:
    """Indices of the largest group of `points` [n, 2] (px) linked by distances of at most
    `radius` (single linkage); empty when no two points are that close."""
    if len(points) < 2:
        return []
    group = fcluster(linkage(points, method="single"), t=radius, criterion="distance")
    members = np.flatnonzero(group == np.bincount(group).argmax())
    return members.tolist() if len(members) > 1 else []


def draw_points(ax, means: pd.DataFrame, seeds: pd.DataFrame, front: pd.DataFrame, named: pd.DataFrame) -> None:
    """Every seed (small, translucent), every named mean (`named_settings`) with its 95% CI
    bars, every other mean as a small marker without bars, and the front's line. A setting's
    only seed is its mean, drawn once, as the mean (a search's 10^5 settings, say)."""
    several = means.loc[means["n_seeds"] > 1, "setting"]
    seeds = seeds[pd.Index(several).unique().get_indexer(seeds["setting"]) >= 0]
    for _, group in seeds.groupby("mode"):  # a mode's seeds look alike: one artist for them all
        marker, colour, _ = point_style(group["mode"].iloc[0], "front")
        # over the CI bars: with few seeds the bars end at the seeds
        ax.plot(
            group["violations_total"],
            group["return_final"],
            marker,
            color=colour,
            ms=SEED_SIZE,
            alpha=0.55,
            ls="",
            zorder=4,
            in_layout=False,  # inside the axes: measuring 10^5 of them would not move it
        )
    for (mode, verdict), group in means.drop(index=named.index).groupby(["mode", "verdict"]):
        marker, colour, fill = point_style(mode, verdict)
        x, y = group["violations_total_mean"], group["return_final_mean"]
        ax.plot(
            x,
            y,
            marker,
            color=colour,
            fillstyle=fill,
            mfcalt="white",
            mew=0.8,
            ms=CLOUD_SIZE,
            ls="",
            zorder=2,
            in_layout=False,
        )
    for _, row in named.iterrows():
        x, y = row["violations_total_mean"], row["return_final_mean"]
        marker, colour, fill = point_style(row["mode"], row["verdict"])
        xerr = bars(row["violations_total_ci_low"], x, row["violations_total_ci_high"])
        yerr = bars(row["return_final_ci_low"], y, row["return_final_ci_high"])
        ax.errorbar(
            x,
            y,
            xerr=xerr,
            yerr=yerr,
            fmt=marker,
            color=colour,
            fillstyle=fill,
            mfc=colour,
            mfcalt="white",
            mew=1.6,
            ms=MEAN_SIZE,
            capsize=3,
        )
    if len(front) > 1:
        ax.plot(
            front["violations_total_mean"],
            front["return_final_mean"],
            color="tab:red",
            lw=1.3,
            ls="--",
            zorder=1,
            gid="pareto-front",
        )
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.grid(alpha=0.3)


def extent(means: pd.DataFrame, seeds: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(violations, returns): every value the means, their CIs and the seeds put on the plot."""
    violations = np.concatenate(
        [seeds["violations_total"].to_numpy(float)]
        + [means[f"violations_total_{s}"].to_numpy(float) for s in ("mean", "ci_low", "ci_high")]
    )
    returns = np.concatenate(
        [seeds["return_final"].to_numpy(float)]
        + [means[f"return_final_{s}"].to_numpy(float) for s in ("mean", "ci_low", "ci_high")]
    )
    return violations[np.isfinite(violations)], returns[np.isfinite(returns)]


def axis_titles(ax, log: bool, short: bool = False) -> None:
    scale = " (log scale)" if log else ""
    if short:
        ax.set_xlabel(f"violations_total{scale}", fontsize=LABEL_SIZE)
        ax.set_ylabel("return_final", fontsize=LABEL_SIZE)
        return
    ax.set_xlabel(f"violations_total: lava deaths during training{scale}; lower is better", fontsize=LABEL_SIZE)
    ax.set_ylabel("return_final: mean of the last 100 episodes; higher is better", fontsize=LABEL_SIZE)


def zoom_limits(means: pd.DataFrame, seeds: pd.DataFrame, ax) -> tuple[bool, tuple, tuple]:
    """(log, x limits, y limits) of a panel that holds `means` with their CIs and seeds,
    with room around them for labels."""
    violations, returns = extent(means, seeds)
    log = set_violations_scale(ax, "x", violations)
    low, high = violations.min(), violations.max()
    if log:
        xlim = (low / 1.6 if low >= 2 else 0.0, high * 1.6)
    else:
        pad = max(0.12 * (high - low), 1.0)
        xlim = (max(low - pad, 0.0), high + pad)
    low, high = returns.min(), returns.max()
    pad = max(0.6 * (high - low), 0.002)
    return log, xlim, (low - pad, high + pad)


def named_settings(table: pd.DataFrame, most: int = NAMED_MOST) -> list[str]:
    """The settings of `table` (pareto.csv rows) that the plots name: every one when there are
    at most `most`; else the baselines and the front's, thinned evenly along the front to
    make `most` in all (no plot names 10^5 settings legibly)."""
    if len(table) <= most:
        return table["setting"].tolist()
    baselines = table.loc[table["mode"].isin(list(BASELINE_MARKERS)), "setting"].tolist()[:most]
    front = [s for s in front_points(table)["setting"] if s not in baselines]
    room = most - len(baselines)
    if len(front) > room:
        front = [front[i] for i in np.unique(np.linspace(0, len(front) - 1, room).round().astype(int))]
    return baselines + front


def pareto_figure(table: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure:
    """Return vs violations: per setting the mean over seeds with its 95% CI bars, every seed
    as a small translucent marker, the front as a line through its points in order, each mean
    labelled with what tells it apart and how many seeds learned (k/n), clear of each other.
    Named means crowded on the full plot (closer than `CROWDED_PX`) are labelled in a zoomed
    panel at the right instead, marked on the full plot by a dotted box. A study of more than
    `NAMED_MOST` settings names only some (`named_settings`); the others' means are small
    markers without bars or labels.

    table: pareto.csv rows; trials: trials.csv rows (the seeds).
    """
    names = short_labels(labels_of(table, trials))
    seeds = finished_seeds(trials)
    # Series.isin would convert 10^5 arrow strings one by one; an index looks them up at once
    seeds = seeds[pd.Index(table["setting"]).unique().get_indexer(seeds["setting"]) >= 0]
    means = table[np.isfinite(table["violations_total_mean"]) & np.isfinite(table["return_final_mean"])]
    named = means[means["setting"].isin(named_settings(table))]
    named_seeds = seeds[seeds["setting"].isin(named["setting"])]  # what a label must not cover
    front = front_points(table)
    fig, ax = pareto_panels(table, trials, means, seeds, front, named, title)
    cluster = crowded(ax.transData.transform(named[["violations_total_mean", "return_final_mean"]].to_numpy(float)))
    if not cluster:
        label_points(ax, mean_labels(named, names), obstacles(ax, named, named_seeds, front))
        return fig
    inner = named.iloc[cluster]
    fig, (main, zoom) = pareto_panels(table, trials, means, seeds, front, named, title, inner)
    box = zoom_box(main, zoom)
    main.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ls=":", lw=1.4, ec="0.2", zorder=6))
    outer = mean_labels(named.drop(index=inner.index), names)
    outer.append(((box[0] + box[2]) / 2, box[3], "zoomed at right", "0.2"))
    label_points(main, outer, obstacles(main, named, named_seeds, front) + [Bbox.from_extents(*box)])
    label_points(zoom, mean_labels(inner, names), obstacles(zoom, named, named_seeds, front))
    return fig


def zoom_box(main, zoom, pad: float = 7.0) -> tuple[float, float, float, float]:
    """The zoomed panel's view as a box in the full plot's data coordinates, `pad` px wider
    on each side so that a cluster a few pixels across still shows as a box around it."""
    (x0, x1), (y0, y1) = zoom.get_xlim(), zoom.get_ylim()
    (px0, py0), (px1, py1) = main.transData.transform([(x0, y0), (x1, y1)])
    to_data = main.transData.inverted().transform
    (dx0, dy0), (dx1, dy1) = to_data([(px0 - pad, py0 - pad), (px1 + pad, py1 + pad)])
    return dx0, dy0, dx1, dy1


def pareto_panels(table, trials, means, seeds, front, named, title: str, inner: pd.DataFrame | None = None):
    """A laid-out figure with the full plot, and when `inner` (crowded named means) is given
    a zoomed panel on them at its right: (figure, full axes) or (figure, (full, zoomed))."""
    zoom = inner is not None
    fig = Figure(figsize=(15 if zoom else 10, 6.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, 2, width_ratios=(1.2, 1)) if zoom else [fig.subplots()]
    for ax in axes:
        draw_points(ax, means, seeds, front, named)
    main = axes[0]
    violations, _ = extent(means, seeds)
    log = set_violations_scale(main, "x", violations)
    main.set_xlim(*violations_limits(violations, log))
    main.set_ylim(-0.06, 1.1)
    axis_titles(main, log)
    if zoom:
        log, xlim, ylim = zoom_limits(inner, seeds[seeds["setting"].isin(inner["setting"])], axes[1])
        axes[1].set_xlim(*xlim)
        axes[1].set_ylim(*ylim)
        axis_titles(axes[1], log, short=True)
        axes[1].set_title(f"zoom on the {len(inner)} settings in the dotted box", fontsize=LABEL_SIZE)
    fig.legend(handles=pareto_legend(table, len(front) > 1), loc="outside lower center", ncols=4, fontsize=TEXT_SIZE)
    add_title(
        fig,
        title,
        f"{run_summary(trials)}: mean per setting, 95% t-interval bars ({INTERVALS_SAID}), seeds as dots; "
        f"the fill is the verdict of paired tests. {verdict_line(table)}",
    )
    draw(fig)
    return fig, (tuple(axes) if zoom else main)


def verdict_line(table: pd.DataFrame) -> str:
    """What the verdicts tell apart, in a few words for a subtitle."""
    counts = table["verdict"].value_counts()
    dominated, undecided = int(counts.get("dominated", 0)), int(counts.get("undecided", 0))
    if dominated:
        return f"{dominated} setting(s) dominated with confidence, {undecided} undecided."
    seeds = int(table["n_seeds"].min()) if len(table) else 0
    why = (
        f" (a verdict needs {VERDICT_MIN_SEEDS} shared seeds, these have {seeds})" if seeds < VERDICT_MIN_SEEDS else ""
    )
    return f"No setting is dominated with confidence{why}; {undecided} undecided."


def pareto_legend(table: pd.DataFrame, with_front: bool) -> list:
    """Legend entries for the kinds of point present, the seeds, the CI bars and the front."""
    modes = set(table["mode"].unique().tolist())
    handles = [
        Line2D([], [], marker=m, color=c, ls="", ms=MEAN_SIZE, label=f"{mode} (mean)")
        for mode, (m, c) in BASELINE_MARKERS.items()
        if mode in modes
    ]
    m, c = SHIELD_MARKER
    if (table["mode"] == "shield").any():
        handles.append(Line2D([], [], marker=m, color=c, ls="", ms=MEAN_SIZE, label="shield (mean)"))
    said = {
        "front": "filled: on the front",
        "undecided": "half: undecided at these seeds",
        "dominated": "hollow: dominated with confidence",
    }
    for verdict in [v for v in FILLS if v in set(table["verdict"])]:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color="0.3",
                fillstyle=FILLS[verdict],
                mfcalt="white",
                mew=1.6,
                ls="",
                ms=MEAN_SIZE,
                label=said[verdict],
            )
        )
    handles.append(Line2D([], [], marker="o", color="0.3", alpha=0.5, ls="", ms=SEED_SIZE, label="one seed"))
    handles.append(Line2D([], [], marker="|", color="0.3", ls="-", label="95% t-interval of the mean"))
    if with_front:
        handles.append(Line2D([], [], ls="--", color="tab:red", label="Pareto front"))
    return handles


def plot_pareto(table: pd.DataFrame, trials: pd.DataFrame, path: Path, title: str) -> None:
    """Write `pareto_figure` to `path`."""
    save(pareto_figure(table, trials, title), path)

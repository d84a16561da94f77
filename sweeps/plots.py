"""Plots of a study: the Pareto front, learning curves, cumulative violations and the paper comparison.

Every plot names a setting by what tells it apart from the study's other settings
(`short_labels`), puts violations on a symmetric-log axis when they span more than 10×
(`log_axis`), and carries its title inside the figure. Figures are built on
`matplotlib.figure.Figure` (no pyplot state); the `*_figure` builders return them, drawn,
so that tests can inspect what a reader sees.
"""

from __future__ import annotations

import collections
import functools
import itertools
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator

from sweeps.intervals import INTERVALS_SAID
from sweeps.verdicts import VERDICT_MIN_SEEDS

DPI = 110
TITLE_SIZE, LABEL_SIZE, TEXT_SIZE = 12, 11, 10  # points
BASELINE_MARKERS = {"dqn": ("s", "tab:gray"), "priors": ("D", "tab:brown")}
SHIELD_MARKER = ("o", "tab:blue")
MEAN_SIZE, SEED_SIZE, CLOUD_SIZE = 8, 4, 3  # marker sizes, points (CLOUD: a mean not named)
LOG_SPAN = 10.0  # violations spanning more than this factor get a log axis
# one colour per setting in the curves: baselines keep their Pareto-plot colours
SHIELD_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:olive", "tab:cyan", "tab:pink")
PRIORS_COLOURS = ("tab:brown", "peru", "rosybrown")


def short_labels(settings: list[str]) -> dict[str, str]:
    """{setting label: what tells it apart}. A shield label drops each setting whose value is
    the same in every shield label that names it, unless dropping it would make two labels
    alike ("shield" alone when there is one shield setting); baselines drop ``tau=0``."""
    return dict(cached_short_labels(tuple(settings)))


@functools.lru_cache(maxsize=1)  # a report's plots name the same settings (10^5 in a search)
def cached_short_labels(settings: tuple[str, ...]) -> dict[str, str]:
    """`short_labels`, computed once per list of settings."""
    shield = list(dict.fromkeys(label for label in settings if label.startswith("shield")))
    # every token ("d_max=2.5") with how many labels hold it, in order of first appearance
    counts = collections.Counter(itertools.chain.from_iterable(map(str.split, shield)))
    del counts["shield"]  # the mode, in every one
    values: dict[str, list[str]] = {}  # per setting name, its tokens
    named_by: collections.Counter[str] = collections.Counter()  # per setting name, the labels naming it
    for token, count in counts.items():
        name = token.split("=")[0]
        values.setdefault(name, []).append(token)
        named_by[name] += count
    dropped: set[str] = set()
    # the most specific settings (last in a label) go first, so that `d_max_rule=adaptive`
    # outlives the parameters it implies
    for name in reversed(values):
        if len(values[name]) != 1:
            continue
        if named_by[name] == len(shield):  # the same token leaves every label: they stay apart
            dropped.add(name)
            continue
        gone = dropped | {name}
        short = {tuple(t for t in label.split()[1:] if t.split("=")[0] not in gone) for label in shield}
        if len(short) == len(shield):
            dropped.add(name)
    shield_gone = [values[name][0] for name in dropped]  # one token each
    out = {}
    for label in settings:
        gone = shield_gone if label.split(maxsplit=1)[0] == "shield" else ["tau=0"]
        text = f" {' '.join(label.split())} "
        for token in gone:  # whole tokens only: " k=1 " is not in " k=10 "
            text = text.replace(f" {token} ", " ")
        out[label] = text.strip()
    return out


def labels_of(*tables: pd.DataFrame) -> list[str]:
    """The settings of `tables`, sorted, once each (their labels as plain strings: iterating
    pandas' arrow strings goes one Python object at a time)."""
    return sorted(set().union(*(table["setting"].dropna().unique().tolist() for table in tables)))


def log_axis(violations: Sequence[float] | np.ndarray) -> bool:
    """True when the finite `violations` (counts) span more than `LOG_SPAN`×: the largest over
    the smallest, a count below 1 taken as 1 (the axis is linear below 1, so 0 still shows)."""
    values = np.asarray(violations, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return False
    return float(values.max()) / max(float(values.min()), 1.0) > LOG_SPAN


def set_violations_scale(ax, which: str, violations: np.ndarray) -> bool:
    """Put the `which` ("x" or "y") axis of `ax` on a symmetric-log scale (linear in [0, 1],
    ticks at 1, 2, 5 × powers of 10, plain numbers) when `log_axis(violations)`; return that."""
    if not log_axis(violations):
        return False
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("symlog", linthresh=1.0, linscale=0.4)
    axis.set_major_locator(SymmetricalLogLocator(linthresh=1.0, base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    return True


def violations_limits(violations: np.ndarray, log: bool) -> tuple[float, float]:
    """Axis limits that hold every value with a margin: a little below 0 (so that a marker
    at 0 shows whole) or, on a log axis whose smallest count is 2 or more, a third below it;
    8% above the largest (half of it on a log axis)."""
    values = violations[np.isfinite(violations)]
    high = float(values.max()) if len(values) else 1.0
    low = float(values.min()) if len(values) else 0.0
    if not log:
        return -0.02 * high - 0.5, high * 1.08 + 1.0
    return (-0.4 if low < 2 else low / 1.5), high * 1.5


def add_title(fig: Figure, title: str, subtitle: str) -> None:
    """`title` (the study) over `subtitle` (what the plot shows), each wrapped to the figure's
    width (an inch holds about 11 characters at 12 points)."""
    width = int(fig.get_figwidth() * 11)
    fig.suptitle(textwrap.fill(title, width) + "\n" + textwrap.fill(subtitle, width), fontsize=TITLE_SIZE)


def run_summary(trials: pd.DataFrame) -> str:
    """ "agent nstep3, 2 seeds, about 100K env steps per trial" from the finished trials."""
    done = trials[trials["status"] == "TERMINATED"]
    if done.empty:
        return "no finished trial"
    agents = ", ".join(sorted(set(done["agent"].dropna().astype(str).unique().tolist()))) or "?"
    steps = float(np.nanmedian(done["env_steps"].to_numpy(dtype=float)))
    kilo = f"{steps / 1000:.0f}K" if steps >= 10_000 else f"{steps:,.0f}"
    return f"agent {agents}, {done['seed'].nunique()} seeds, about {kilo} env steps per trial"


def draw(fig: Figure) -> None:
    """Lay the figure out once and freeze that layout, so that the positions measured for
    labels afterwards stay where they were measured. Nothing is rendered: `save` renders."""
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI)


# --- the Pareto plot ----------------------------------------------------------------------


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


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# candidate directions from a point, preferred first: right, left, then the diagonals, above, below
DIRECTIONS = ((1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1))
RADII = (4, 10, 18, 30, 45, 65, 90, 120, 160, 210, 270)  # gap between point and label, pixels


def candidate_box(point: tuple[float, float], size: tuple[float, float], direction, gap: float) -> Box:
    """The label box of `size` (w, h) whose nearest side or corner lies `gap` px from `point` in `direction`."""
    (x, y), (w, h), (ux, uy) = point, size, direction
    cx = x + ux * gap + np.sign(ux) * w / 2
    cy = y + uy * gap + np.sign(uy) * h / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def place_labels(
    points: Sequence[tuple[float, float]],
    sizes: Sequence[tuple[float, float]],
    area: Box,
    obstacles: Sequence[Box] = (),
) -> list[Box | None]:
    """Boxes [n] for labels of `sizes` (w, h px) near `points` (px): inside `area`, clear of
    each other and, where possible, of `obstacles` (markers, error bars, lines). Each label
    takes the nearest free candidate (`RADII` × `DIRECTIONS`); a label with none clear of the
    obstacles takes the nearest clear of the other labels only, and one with none clear of
    the other labels gets None: left out rather than printed over another."""
    boxes: list[Box] = []
    placed: list[Box | None] = []
    blocks = np.asarray(obstacles, dtype=float).reshape(-1, 4)

    def inside(box: Box) -> bool:
        return area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]

    def overflow(box: Box) -> float:
        return sum(max(v, 0.0) for v in (area[0] - box[0], box[2] - area[2], area[1] - box[1], box[3] - area[3]))

    def shifted_inside(box: Box) -> Box:
        dx = max(area[0] - box[0], 0.0) - max(box[2] - area[2], 0.0)
        dy = max(area[1] - box[1], 0.0) - max(box[3] - area[3], 0.0)
        return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy

    for point, size in zip(points, sizes, strict=True):
        candidates = [candidate_box(point, size, d, gap) for gap in RADII for d in DIRECTIONS]
        # the axes' inside; else the least overflow, moved inside (wholly, unless wider than the room)
        candidates = [c for c in candidates if inside(c)] or list(map(shifted_inside, sorted(candidates, key=overflow)))
        free = [c for c in candidates if not any(overlaps(c, b) for b in boxes)]
        if not free:
            placed.append(None)
            continue
        blocked = hits(np.asarray(free), blocks)
        clear = [c for c, hit in zip(free, blocked, strict=True) if not hit]
        boxes.append((clear or free)[0])
        placed.append(boxes[-1])
    return placed


def overlap_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[k, m]: whether box a[i] overlaps box b[j] (`overlaps`); a: [k, 4], b: [m, 4]."""
    a, b = a[:, None, :], b[None, :, :]
    return (a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2]) & (a[..., 1] < b[..., 3]) & (b[..., 1] < a[..., 3])


def hits(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """[k]: whether each of `boxes` [k, 4] overlaps any of `others` [m, 4] (`overlaps`)."""
    reach = np.r_[boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)][None]
    near = others[overlap_matrix(others, reach)[:, 0]]  # a few of thousands of seeds, say
    return overlap_matrix(boxes, near).any(axis=1)


def gap_to(box: Box, point: tuple[float, float]) -> float:
    """Distance (px) from `point` to the nearest point of `box`; 0 inside it."""
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return float(np.hypot(dx, dy))


def label_text(row: pd.Series, name: str) -> str:
    """The setting's short name over how many of its seeds learned ("k/n learned") and, off
    the front, its verdict."""
    learned = f"\n{int(row['n_seeds_learned'])}/{int(row['n_seeds'])} learned" if "n_seeds_learned" in row else ""
    verdict = f", {row['verdict']}" if row.get("verdict", "front") != "front" else ""
    return name + learned + verdict


def obstacle_boxes(ax, table: pd.DataFrame, seeds: pd.DataFrame, front: pd.DataFrame) -> list[Box]:
    """Display boxes of what a label should not cover: markers, CI bars and the front's line."""
    to_px = ax.transData.transform
    px = DPI / 72

    def around(x: float, y: float, half: float) -> Box:
        (cx, cy) = to_px((x, y))
        return cx - half, cy - half, cx + half, cy + half

    def segment(a, b, half: float = 2.0) -> Box:
        (x0, y0), (x1, y1) = to_px(a), to_px(b)
        return min(x0, x1) - half, min(y0, y1) - half, max(x0, x1) + half, max(y0, y1) + half

    half = SEED_SIZE * px / 2 + 1
    centres = to_px(seeds[["violations_total", "return_final"]].to_numpy(dtype=float).reshape(-1, 2))
    boxes = list(map(tuple, np.hstack([centres - half, centres + half]).tolist()))
    for _, row in table.iterrows():
        x, y = row["violations_total_mean"], row["return_final_mean"]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        boxes.append(around(x, y, MEAN_SIZE * px / 2 + 2))
        boxes.append(segment((row["violations_total_ci_low"], y), (row["violations_total_ci_high"], y)))
        boxes.append(segment((x, row["return_final_ci_low"]), (x, row["return_final_ci_high"])))
    xs, ys = front["violations_total_mean"].to_numpy(), front["return_final_mean"].to_numpy()
    for i in range(len(xs) - 1):  # the front's segments, as small boxes along each
        (x0, y0), (x1, y1) = to_px((xs[i], ys[i])), to_px((xs[i + 1], ys[i + 1]))
        for t in np.linspace(0.0, 1.0, int(np.hypot(x1 - x0, y1 - y0) // 6) + 2):
            x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            boxes.append((x - 3, y - 3, x + 3, y + 3))
    return boxes


def finished_seeds(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished trials' (setting, mode, violations_total, return_final), defined values only."""
    done = trials[trials["status"] == "TERMINATED"]
    return done.dropna(subset=["violations_total", "return_final"])[
        ["setting", "mode", "violations_total", "return_final"]
    ]


CROWDED_PX = 40  # means closer than this on the full plot get a zoomed panel


def crowded(points: np.ndarray, radius: float = CROWDED_PX) -> list[int]:
    """Indices of the largest group of `points` [n, 2] (px) linked by distances below
    `radius` (single linkage); empty when no two points are that close."""
    n = len(points)
    group = list(range(n))  # union-find parents

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if np.hypot(*(points[i] - points[j])) < radius:
                group[root(j)] = root(i)
    roots = [root(i) for i in range(n)]
    largest = max(set(roots), key=roots.count, default=None)
    members = [i for i in range(n) if roots[i] == largest]
    return members if len(members) > 1 else []


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


NAMED_MOST = 20  # settings a plot names (labels, curves); a larger study names its front's


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
        label_points(ax, mean_labels(named, names), obstacle_boxes(ax, named, named_seeds, front))
        return fig
    inner = named.iloc[cluster]
    fig, (main, zoom) = pareto_panels(table, trials, means, seeds, front, named, title, inner)
    box = zoom_box(main, zoom)
    main.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ls=":", lw=1.4, ec="0.2", zorder=6))
    outer = mean_labels(named.drop(index=inner.index), names)
    outer.append(((box[0] + box[2]) / 2, box[3], "zoomed at right", "0.2"))
    label_points(main, outer, obstacle_boxes(main, named, named_seeds, front) + [pixel_box(main, box)])
    label_points(zoom, mean_labels(inner, names), obstacle_boxes(zoom, named, named_seeds, front))
    return fig


def zoom_box(main, zoom, pad: float = 7.0) -> Box:
    """The zoomed panel's view as a box in the full plot's data coordinates, `pad` px wider
    on each side so that a cluster a few pixels across still shows as a box around it."""
    (x0, x1), (y0, y1) = zoom.get_xlim(), zoom.get_ylim()
    (px0, py0), (px1, py1) = main.transData.transform([(x0, y0), (x1, y1)])
    to_data = main.transData.inverted().transform
    (dx0, dy0), (dx1, dy1) = to_data([(px0 - pad, py0 - pad), (px1 + pad, py1 + pad)])
    return dx0, dy0, dx1, dy1


def pixel_box(ax, box: Box) -> Box:
    """`box` (data coordinates of `ax`) in display pixels."""
    (x0, y0), (x1, y1) = ax.transData.transform([box[:2], box[2:]])
    return x0, y0, x1, y1


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


Label = tuple[float, float, str, str]  # x, y (data), text, colour


def mean_labels(means: pd.DataFrame, names: dict[str, str]) -> list[Label]:
    """A label per mean: its short name and k/n learned, in its mode's colour (greys darker)."""
    labels = []
    for _, row in means.iterrows():
        _, colour, _ = point_style(row["mode"], "front")
        text = label_text(row, names[row["setting"]])
        colour = "0.25" if colour == "tab:gray" else colour
        labels.append((row["violations_total_mean"], row["return_final_mean"], text, colour))
    return labels


def label_points(ax, labels: list[Label], obstacles: list[Box]) -> None:
    """Annotate each point with its label at a place `place_labels` found free; a leader
    line joins a label to its point when it sits further than a marker's width away."""
    renderer = ax.figure.canvas.get_renderer()
    px = DPI / 72
    pad = 0.25 * TEXT_SIZE * px  # the label's white box, beyond the text
    sizes = []
    for *_, text, _ in labels:
        probe = ax.text(0, 0, text, fontsize=TEXT_SIZE)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        sizes.append((extent.width + 2 * pad + 2, extent.height + 2 * pad + 2))
    points = [tuple(ax.transData.transform((x, y))) for x, y, *_ in labels]
    bbox = ax.get_window_extent(renderer)
    area = (bbox.x0 + 2, bbox.y0 + 2, bbox.x1 - 2, bbox.y1 - 2)
    boxes = place_labels(points, sizes, area, obstacles)
    for (x, y, text, colour), point, box in zip(labels, points, boxes, strict=True):
        if box is None:
            continue
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        ax.annotate(
            text,
            (x, y),
            xytext=((centre[0] - point[0]) / px, (centre[1] - point[1]) / px),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=TEXT_SIZE,
            color=colour,
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="none", alpha=0.85),
            arrowprops=dict(arrowstyle="-", color="0.5", lw=0.7) if gap_to(box, point) > 12 else None,
            zorder=5,
        )


def plot_pareto(table: pd.DataFrame, trials: pd.DataFrame, path: Path, title: str) -> None:
    """Write `pareto_figure` to `path`."""
    save(pareto_figure(table, trials, title), path)


# --- learning curves ----------------------------------------------------------------------


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


def setting_styles(settings: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) per setting: `dqn` grey and `priors` browns, solid, as in the
    Pareto plot; the shield settings from a qualitative palette, in the order given, their
    line styles cycling too, so that curves that coincide (settings that behaved alike) both show."""
    styles: dict[str, tuple[str, str]] = {}
    shield, priors = itertools.cycle(SHIELD_COLOURS), itertools.cycle(PRIORS_COLOURS)
    dashes = itertools.cycle(("-", "--", "-.", ":"))
    for setting in settings:
        mode = setting.split()[0]
        if mode == "shield":
            styles[setting] = (next(shield), next(dashes))
        else:
            styles[setting] = ("tab:gray" if mode == "dqn" else next(priors), "-")
    return styles


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


# --- the paper comparison -----------------------------------------------------------------


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

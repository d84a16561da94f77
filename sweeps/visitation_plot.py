"""visitation.png: where the agent went, one heat map per setting on one layout.

Each panel is one setting's trial on the same layout (`sweeps.visitation.layout_seed`): the
share of its training steps taken from each cell, on one logarithmic colour scale shared by
every panel, so that "stays near the start" and "crosses to the goal" read alike across
settings. Walls are grey, lava cells hatched orange, the goal a green square, the start a
white triangle; cells never visited are left white.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from shield.envs import make_env
from sweeps.plot_style import LABEL_SIZE, TEXT_SIZE, add_title, save, short_labels
from sweeps.visitation import layout_seed, visit_grid

COLUMNS = 4  # panels per row
CMAP = "viridis"


def layout_cells(env_id: str, seed: int) -> tuple[tuple[int, int], dict[str, list[tuple[int, int]]], tuple[int, int]]:
    """((height, width), {"wall" | "lava" | "goal": [(x, y), ...]}, start (x, y)) of the layout
    drawn with `seed`."""
    env = make_env(env_id, "symbolic", layout_seed=seed)
    env.reset()
    base = env.unwrapped
    cells: dict[str, list[tuple[int, int]]] = {"wall": [], "lava": [], "goal": []}
    for x in range(base.width):
        for y in range(base.height):
            cell = base.grid.get(x, y)
            if cell is not None and cell.type in cells:
                cells[cell.type].append((x, y))
    start = tuple(int(v) for v in base.agent_pos)
    env.close()
    return (base.height, base.width), cells, start


def draw_layout(ax, cells: dict[str, list[tuple[int, int]]], start: tuple[int, int]) -> None:
    """Walls, lava, goal and start over a heat map whose cell (x, y) spans x ± 0.5, y ± 0.5."""
    for x, y in cells["wall"]:
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="0.55", edgecolor="none"))
    for x, y in cells["lava"]:
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="xxx", edgecolor="tab:orange", lw=0))
    for x, y in cells["goal"]:
        ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, fill=False, edgecolor="tab:green", lw=2.5))
    ax.plot(*start, marker="^", ms=7, color="white", mec="black", ls="")


def visitation_figure(trials: pd.DataFrame, visits: pd.DataFrame, title: str) -> Figure | None:
    """The heat maps of every setting that finished on the layout of `layout_seed`; None
    when no finished trial has visit counts (runs from before they were recorded)."""
    seed = layout_seed(trials)
    if seed is None:
        return None
    done = trials[(trials["status"] == "TERMINATED") & (trials["seed"].astype(int) == seed)]
    done = done[done["trial_id"].astype(str).isin(set(visits["trial_id"].astype(str)))]
    if done.empty:
        return None
    env_id = str(done["env"].iloc[0])
    shape, cells, start = layout_cells(env_id, seed)
    settings = list(dict.fromkeys(done["setting"]))  # the tables' order
    shares = {}
    for setting in settings:
        grid = visit_grid(visits, done.loc[done["setting"] == setting, "trial_id"].tolist(), shape)
        shares[setting] = grid / grid.sum()
    positive = np.concatenate([s[s > 0] for s in shares.values()])
    norm = LogNorm(vmin=max(float(positive.min()), 1e-6), vmax=float(positive.max()))
    columns = min(COLUMNS, len(settings))
    rows = math.ceil(len(settings) / columns)
    fig = Figure(figsize=(3.0 * columns + 1.2, 3.1 * rows + 1.3), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    names = short_labels(settings)
    image = None
    for ax, setting in zip(axes.flat, settings, strict=False):
        shown = np.ma.masked_equal(shares[setting], 0.0)
        image = ax.imshow(shown, cmap=CMAP, norm=norm, origin="upper", interpolation="nearest")
        draw_layout(ax, cells, start)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(names[setting], fontsize=TEXT_SIZE, wrap=True)
    for ax in axes.flat[len(settings) :]:
        ax.set_axis_off()
    bar = fig.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label("share of training steps taken from the cell", fontsize=LABEL_SIZE)
    add_title(fig, title, f"where the agent went: {env_id.removeprefix('MiniGrid-')} layout {seed}")
    return fig


def plot_visitation(trials: pd.DataFrame, visits: pd.DataFrame, path: Path, title: str) -> bool:
    """Write `visitation_figure` to `path`; False (nothing written) when there is none."""
    fig = visitation_figure(trials, visits, title)
    if fig is None:
        return False
    save(fig, path)
    return True

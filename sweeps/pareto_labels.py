"""The Pareto plot's labels: what each says, and where adjustText puts it.

A label names its mean's setting (`sweeps.plot_style.short_labels`) over how many seeds
learned. adjustText moves the labels apart, off the markers, CI bars and the front's line;
one it cannot part from another is left out rather than printed over it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from adjustText import adjust_text
from matplotlib.transforms import Bbox

from sweeps.plot_style import BASELINE_MARKERS, DPI, MEAN_SIZE, SEED_SIZE, SHIELD_MARKER, TEXT_SIZE


def label_text(row: pd.Series, name: str) -> str:
    """The setting's short name over how many of its seeds learned ("k/n learned") and, off
    the front, its verdict."""
    learned = f"\n{int(row['n_seeds_learned'])}/{int(row['n_seeds'])} learned" if "n_seeds_learned" in row else ""
    verdict = f", {row['verdict']}" if row.get("verdict", "front") != "front" else ""
    return name + learned + verdict


Label = tuple[float, float, str, str]  # x, y (data), text, colour


def mean_labels(means: pd.DataFrame, names: dict[str, str]) -> list[Label]:
    """A label per mean: its short name and k/n learned, in its mode's colour (greys darker)."""
    labels = []
    for _, row in means.iterrows():
        _, colour = BASELINE_MARKERS.get(row["mode"], SHIELD_MARKER)
        text = label_text(row, names[row["setting"]])
        colour = "0.25" if colour == "tab:gray" else colour
        labels.append((row["violations_total_mean"], row["return_final_mean"], text, colour))
    return labels


def obstacles(ax, means: pd.DataFrame, seeds: pd.DataFrame, front: pd.DataFrame) -> list[Bbox]:
    """What a label should not cover, as boxes in `ax`'s data coordinates (adjustText's
    `objects`): each seed's and mean's marker, the CI bars, and the front's line as small
    boxes along it (one box around a sloping line would cover the plot between its ends)."""
    to_px, px = ax.transData.transform, DPI / 72

    def around(xy: np.ndarray, half: float) -> np.ndarray:  # [n, 2] data -> [n, 4] px
        centres = to_px(xy.reshape(-1, 2))
        return np.hstack([centres - half, centres + half])

    def span(start: np.ndarray, end: np.ndarray, half: float = 2.0) -> np.ndarray:
        a, b = to_px(start.reshape(-1, 2)), to_px(end.reshape(-1, 2))
        return np.hstack([np.minimum(a, b) - half, np.maximum(a, b) + half])

    x, y = (means[f"{c}_mean"].to_numpy(float) for c in ("violations_total", "return_final"))
    x_ci, y_ci = (means[[f"{c}_ci_low", f"{c}_ci_high"]].to_numpy(float) for c in ("violations_total", "return_final"))
    boxes = [
        around(seeds[["violations_total", "return_final"]].to_numpy(float), SEED_SIZE * px / 2 + 1),
        around(np.c_[x, y], MEAN_SIZE * px / 2 + 2),
        span(np.c_[x_ci[:, 0], y], np.c_[x_ci[:, 1], y]),
        span(np.c_[x, y_ci[:, 0]], np.c_[x, y_ci[:, 1]]),
    ]
    line = to_px(front[["violations_total_mean", "return_final_mean"]].to_numpy(float).reshape(-1, 2))
    for a, b in zip(line[:-1], line[1:], strict=True):  # a box every 6 px along each segment
        along = a + np.linspace(0.0, 1.0, int(np.hypot(*(b - a)) // 6) + 2)[:, None] * (b - a)
        boxes.append(np.hstack([along - 3, along + 3]))
    corners = np.concatenate(boxes)
    corners = corners[np.isfinite(corners).all(axis=1)].reshape(-1, 2)
    data = ax.transData.inverted().transform(corners).reshape(-1, 4)
    return [Bbox.from_extents(*box) for box in data]


LABEL_GAP_PX = 6  # between a point and the side of its label, where the label starts
LEADER_PX = 12  # a label that ends further than this from its point gets a line to it
ADJUST_STEPS = 200  # adjustText's iterations at most: a count, not its default 1 s, draws the same figure every time


def label_points(ax, labels: list[Label], avoid: list[Bbox]) -> None:
    """Label each point: the label starts beside it, diagonally towards the middle of the
    axes (where the room is), and adjustText moves the labels apart, inside the axes and off
    `avoid` where it can; a leader line joins a label that ends further than `LEADER_PX` from
    its point. A label still over another after that goes beside its own point where that is
    free (`beside`), or else is removed: left out rather than printed over one."""
    renderer = ax.figure.canvas.get_renderer()
    middle = ax.get_window_extent(renderer).get_points().mean(axis=0)
    white = dict(boxstyle="round,pad=0.25", fc="white", ec="none", alpha=0.85)
    texts = []
    for x, y, text, colour in labels:
        label = ax.text(x, y, text, fontsize=TEXT_SIZE, color=colour, ha="center", va="center", bbox=white, zorder=5)
        extent = label.get_window_extent(renderer)
        point = ax.transData.transform((x, y))
        start = point + np.sign(middle - point) * (np.array([extent.width, extent.height]) / 2 + LABEL_GAP_PX)
        label.set_position(ax.transData.inverted().transform(start))
        texts.append(label)
    if not texts:
        return
    _, leaders = adjust_text(
        texts,
        target_x=[x for x, *_ in labels],
        target_y=[y for _, y, *_ in labels],
        objects=avoid,
        ax=ax,
        expand=(1.15, 1.4),  # the white box around the text, and a little air
        # 3× and 2× adjustText's defaults: at those, labels of coincident means stayed over each other
        force_text=(0.3, 0.6),
        max_move=20,
        # its untangling of crossing leader lines swaps the places of labels of different
        # sizes after keeping them inside the axes, and can push a long one out of the figure
        prevent_crossings=False,
        iter_lim=ADJUST_STEPS,
        min_arrow_len=LEADER_PX,
        arrowprops=dict(arrowstyle="-", color="0.5", lw=0.7),
    )
    inside = ax.get_window_extent(renderer)
    kept: list[Bbox] = []
    for label, (x, y, *_) in zip(texts, labels, strict=True):
        extent = label.get_window_extent(renderer)
        if any(extent.overlaps(other) for other in kept):
            # beside its own point instead, on the first side that is free (no leader needed)
            extent = beside(ax, label, (x, y), kept, inside, renderer)
            for leader in leaders:
                if leader.patchA is label:
                    leader.remove()
            if extent is None:
                label.remove()
                continue
        kept.append(extent)


def beside(ax, label, point: tuple[float, float], taken: list[Bbox], inside: Bbox, renderer) -> Bbox | None:
    """Move `label` next to `point` (data), on the first of its eight sides where it stays
    inside `inside` and over none of `taken` (boxes in pixels); its new box, or None."""
    extent = label.get_window_extent(renderer)
    half = np.array([extent.width, extent.height]) / 2 + LABEL_GAP_PX
    centre = ax.transData.transform(point)
    for side in ((1, 1), (-1, 1), (1, -1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)):
        at = centre + np.array(side) * half
        box = Bbox.from_bounds(at[0] - extent.width / 2, at[1] - extent.height / 2, extent.width, extent.height)
        within = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
        if within and not any(box.overlaps(t) for t in taken):
            label.set_position(ax.transData.inverted().transform(at))
            return label.get_window_extent(renderer)
    return None

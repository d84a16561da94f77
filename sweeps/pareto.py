"""Pareto fronts and seed statistics for (maximise return, minimise violations).

Pure numpy/pandas. Objectives are given as a matrix with one column per objective and a
sense per column (+1 maximise, −1 minimise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray, senses: np.ndarray) -> bool:
    """a dominates b: at least as good in every objective and better in one."""
    a, b = np.asarray(a) * senses, np.asarray(b) * senses
    return bool(np.all(a >= b) and np.any(a > b))


def dominance_matrix(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """M[i, j] = point i dominates point j; points [n, m]."""
    p = np.asarray(points, dtype=float) * np.asarray(senses, dtype=float)
    ge = np.all(p[:, None, :] >= p[None, :, :], axis=2)
    gt = np.any(p[:, None, :] > p[None, :, :], axis=2)
    return ge & gt


def pareto_ranks(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """Non-dominated sorting: rank 1 is the front, rank 2 the front without rank 1, ..."""
    dom = dominance_matrix(points, senses)
    n = len(dom)
    ranks = np.zeros(n, dtype=int)
    remaining = np.ones(n, dtype=bool)
    rank = 0
    while remaining.any():
        rank += 1
        dominated = (dom[remaining][:, remaining]).any(axis=0)
        current = np.flatnonzero(remaining)[~dominated]
        ranks[current] = rank
        remaining[current] = False
    return ranks


def hypervolume_2d(points: np.ndarray, senses: Sequence[int], reference: Sequence[float]) -> float:
    """Area dominated by `points` [n, 2] and bounded by `reference` (a worst point).

    Points that do not strictly improve on the reference in both objectives add nothing.
    """
    s = np.asarray(senses, dtype=float)
    p = np.asarray(points, dtype=float).reshape(-1, 2) * s
    ref = np.asarray(reference, dtype=float) * s
    p = p[np.all(p > ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[np.argsort(-p[:, 0])]  # best first in objective 0 (both now maximised)
    area, best_y = 0.0, ref[1]
    for x, y in p:
        if y > best_y:
            area += (x - ref[0]) * (y - best_y)
            best_y = y
    return float(area)


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap CI of the mean: (low, high); (v, v) for one value, NaN for none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    means = v[rng.integers(len(v), size=(n_boot, len(v)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))

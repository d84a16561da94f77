"""Pareto fronts and seed statistics for (maximise return, minimise violations).

numpy, and moocore for non-dominated sorting. Objectives are given as a matrix with one
column per objective and a sense per column (+1 maximise, −1 minimise); the fronts are for
two objectives. Every function here is O(n log n) or linear in the points (or values) it is
given, so that a study of 10^5 settings aggregates in seconds (`benchmarks/aggregation.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import moocore
import numpy as np


def pareto_ranks(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """Non-dominated sorting of `points` [n, 2]: rank 1 is the front, rank 2 the front
    without rank 1, ...; identical points share a rank. moocore's O(n log n) sort.

    No NaN: give an undefined objective its worst value first (±inf, as
    `sweeps.results.worst_for_undefined` does), so that it ranks last.
    """
    # moocore's sort (Jensen's, in C): 28 ms at 10^5 points, a search's settings
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    if np.isnan(p).any():
        raise ValueError("points hold NaN; replace an undefined objective by its worst value (-inf or inf) first")
    return moocore.pareto_rank(p, maximise=np.asarray(senses) > 0).astype(int) + 1


def hypervolume_2d(points: np.ndarray, senses: Sequence[int], reference: Sequence[float]) -> float:
    """Area dominated by `points` [n, 2] and bounded by `reference` (a worst point).

    Points that do not strictly improve on the reference in both objectives (or hold NaN)
    add nothing.
    """
    # Ours rather than moocore.hypervolume, which gives the same areas to the last bit but
    # is slower at every size the report asks for (median of interleaved calls, same
    # filter before it, moocore 0.3.2): 20 points 68 µs vs 71 µs (the bootstrap's 1,000
    # draws of a grid study), 10^3 132 vs 148 µs, 10^4 1.3 vs 2.0 ms, 10^5 29 vs 35 ms (the
    # means of a search's 10^5 settings); hypervolume_table of benchmarks/aggregation.py's
    # search, best of 5 interleaved: 0.84 s ours, 1.13 s moocore.
    s = np.asarray(senses, dtype=float)
    p = np.asarray(points, dtype=float).reshape(-1, 2) * s
    ref = np.asarray(reference, dtype=float) * s
    p = p[np.all(p > ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[np.argsort(-p[:, 0])]  # best first in objective 0 (both now maximised)
    best = np.maximum.accumulate(np.concatenate([ref[1:], p[:, 1]]))[:-1]  # best objective 1 before each
    rising = p[:, 1] > best
    # summed strip after strip (Python's sum, not numpy's pairwise one): the committed
    # hypervolume.csv files hold areas summed in this order, and rebuild to the last bit
    strips = (p[rising, 0] - ref[0]) * (p[rising, 1] - best[rising])
    return float(sum(strips.tolist()))


def hypervolumes_2d(points: np.ndarray, senses: Sequence[int], reference: Sequence[float]) -> np.ndarray:
    """[...]: `hypervolume_2d` of each set of points [..., n, 2] at once (the same areas up
    to rounding: the strips are summed by numpy), for many simulated studies in one call.

    Points that do not strictly improve on the reference in both objectives (or hold NaN)
    add nothing.
    """
    s = np.asarray(senses, dtype=float)
    gains = np.asarray(points, dtype=float) * s - np.asarray(reference, dtype=float) * s  # both maximised
    inside = np.all(gains > 0, axis=-1, keepdims=True)
    gains = np.where(inside, gains, 0.0)  # a point at the reference: a strip of no area
    order = np.argsort(-gains[..., 0], axis=-1)  # best first in objective 0
    x = np.take_along_axis(gains[..., 0], order, axis=-1)
    y = np.take_along_axis(gains[..., 1], order, axis=-1)
    best = np.maximum.accumulate(y, axis=-1)
    before = np.concatenate([np.zeros_like(best[..., :1]), best[..., :-1]], axis=-1)  # best objective 1 before each
    return (x * np.maximum(y - before, 0.0)).sum(axis=-1)


def by_size(groups: np.ndarray, n_groups: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(group ids [g], their rows [g, size]) for each size that groups of `groups` [n]
    (ids in [0, n_groups)) have, larger than 0; a group's rows in their order in `groups`."""
    order = np.argsort(groups, kind="stable")
    sizes = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    for size in np.unique(sizes[sizes > 0]).tolist():
        ids = np.flatnonzero(sizes == size)
        yield ids, order[starts[ids][:, None] + np.arange(size)]


def group_means(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """[n_groups]: the mean of each group's defined `values` (NaN where it has none); the
    mean of one group's values as `np.mean` takes it, to the last bit."""
    defined = ~np.isnan(values)
    means = np.full(n_groups, np.nan)
    for ids, rows in by_size(groups[defined], n_groups):
        means[ids] = values[defined][rows].mean(axis=1)
    return means


def group_stds(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """[n_groups]: the sample standard deviation (ddof 1) of each group's defined `values`;
    NaN for a group of fewer than two values (defined or not) or fewer than two defined."""
    stds = np.full(n_groups, np.nan)
    for ids, rows in by_size(groups, n_groups):
        if rows.shape[1] > 1:
            stds[ids] = np.nanstd(values[rows], axis=1, ddof=1)
    return stds

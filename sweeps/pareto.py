"""Pareto fronts and seed statistics for (maximise return, minimise violations).

Pure numpy/pandas. Objectives are given as a matrix with one column per objective and a
sense per column (+1 maximise, −1 minimise); the fronts are for two objectives. Every
function here is O(n log n) or linear in the points (or values) it is given, so that a
study of 10^5 settings aggregates in seconds (`benchmarks/aggregation.py`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import numpy as np

CHUNK = 1 << 22  # elements of a temporary array built at once (32 MB of float64)


def dominates(a: np.ndarray, b: np.ndarray, senses: np.ndarray) -> bool:
    """a dominates b: at least as good in every objective and better in one."""
    a, b = np.asarray(a) * senses, np.asarray(b) * senses
    return bool(np.all(a >= b) and np.any(a > b))


def sweep(points: np.ndarray, senses: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(p [n, 2], order [n]): the points with both objectives maximised, and the order that
    visits them by the first objective, best first, then by the second, best first.

    Every point that dominates another comes before it in this order; identical points
    (which do not dominate each other) come one after another.
    """
    p = np.asarray(points, dtype=float).reshape(-1, 2) * np.asarray(senses, dtype=float)
    return p, np.lexsort((-p[:, 1], -p[:, 0]))


def repeats(q: np.ndarray) -> np.ndarray:
    """[n]: how many points identical to each one come before it in `q` [n, 2] (sweep order)."""
    new = np.ones(len(q), dtype=bool)
    new[1:] = np.any(q[1:] != q[:-1], axis=1)
    starts = np.flatnonzero(new)
    return np.arange(len(q)) - np.repeat(starts, np.diff(np.append(starts, len(q))))


def pareto_ranks(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """Non-dominated sorting of `points` [n, 2] (no NaN): rank 1 is the front, rank 2 the
    front without rank 1, ...

    One sweep (`sweep`): a point's rank is one more than the number of ranks holding a point
    that dominates it. Among the points already visited, that is the number of ranks whose
    best second objective reaches the point's, and those bests fall with the rank.
    """
    p, order = sweep(points, senses)
    q = p[order]
    again = (repeats(q) > 0).tolist()
    ranks = np.empty(len(q), dtype=int)
    lowest: list[float] = []  # per rank: −(its best second objective so far), ascending
    for i, y in enumerate(q[:, 1].tolist()):
        if again[i]:
            ranks[i] = ranks[i - 1]
            continue
        r = bisect.bisect_right(lowest, -y)
        if r == len(lowest):
            lowest.append(-y)
        else:
            lowest[r] = -y  # y beats that rank's best: no point of the rank dominates this one
        ranks[i] = r + 1
    out = np.empty_like(ranks)
    out[order] = ranks
    return out


def earlier_at_least(keys: np.ndarray) -> np.ndarray:
    """[n]: for each i, how many j < i have keys[j] >= keys[i]; keys: integers >= 0.

    Divide and conquer over blocks of positions (1, 2, 4, ... wide): each position counts,
    in the block left of its own, the keys at least its own, with one batched binary
    search per block width; O(n log² n).
    """
    n = len(keys)
    size = 1 << max(n - 1, 1).bit_length()
    padded = np.full(size, -1, dtype=np.int64)  # below every key: counts for nobody
    padded[:n] = keys
    span = int(padded.max()) + 2  # keys and padding lie in [-1, span - 1)
    counts = np.zeros(size, dtype=np.int64)
    half = 1
    while half < size:
        pairs = padded.reshape(-1, 2, half)
        row = np.arange(len(pairs), dtype=np.int64)[:, None]
        # rows shifted apart so that all of them, concatenated, are sorted
        left = (np.sort(pairs[:, 0, :], axis=1) + row * span).ravel()
        below = np.searchsorted(left, (pairs[:, 1, :] + row * span).ravel()).reshape(-1, half) - row * half
        counts.reshape(-1, 2, half)[:, 1, :] += half - below
        half *= 2
    return counts[:n]


def dominator_counts(points: np.ndarray, senses: Sequence[int]) -> np.ndarray:
    """[n]: how many of `points` [n, 2] (no NaN) dominate each one.

    In sweep order, the points that dominate a point are those visited before it whose
    second objective is at least its own, less the identical ones.
    """
    p, order = sweep(points, senses)
    q = p[order]
    _, second = np.unique(q[:, 1], return_inverse=True)
    counts = earlier_at_least(second.ravel()) - repeats(q)
    out = np.empty_like(counts)
    out[order] = counts
    return out


def dominators(points: np.ndarray, senses: Sequence[int], ranks: np.ndarray, most: int) -> list[np.ndarray | None]:
    """Per point of `points` [n, 2] (no NaN; `ranks` = `pareto_ranks`): the indices of the
    points that dominate it, ascending, when at most `most` do; else None.

    A point with at most `most` dominators has rank `most` + 1 or better, and its
    dominators lie in the ranks above its own. Within a rank, in sweep order, the first
    objective falls and the second rises, so the points of one rank that dominate a point
    are one run of it, found by two binary searches.
    """
    p, order = sweep(points, senses)
    asked = np.flatnonzero(ranks <= most + 1)
    found = np.zeros(len(asked), dtype=int)
    who, whom = [], []  # (position in `asked`, dominating point) pairs
    for rank in range(1, most + 1):
        members = order[ranks[order] == rank]
        (ask,) = np.nonzero(ranks[asked] > rank)
        if not len(members) or not len(ask):
            continue
        x, y = p[asked[ask], 0], p[asked[ask], 1]
        end = np.searchsorted(-p[members, 0], -x, side="right")  # members at least as good in the first
        start = np.searchsorted(p[members, 1], y, side="left")  # members worse in the second
        length = np.maximum(end - start, 0)
        found[ask] += length
        row = np.repeat(np.arange(len(ask)), length)
        offset = np.arange(len(row)) - np.repeat(np.cumsum(length) - length, length)
        who.append(ask[row])
        whom.append(members[start[row] + offset])
    out: list[np.ndarray | None] = [None] * len(p)
    who_all, whom_all = (np.concatenate(a) if a else np.empty(0, dtype=int) for a in (who, whom))
    pairs = np.lexsort((whom_all, who_all))
    splits = np.searchsorted(who_all[pairs], np.arange(len(asked) + 1))
    for k, point in enumerate(asked.tolist()):
        if found[k] <= most:
            out[point] = whom_all[pairs[splits[k] : splits[k + 1]]]
    return out


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
    best = np.maximum.accumulate(np.concatenate([ref[1:], p[:, 1]]))[:-1]  # best objective 1 before each
    rising = p[:, 1] > best
    # summed one strip after the other, as the strips come (the sum of one loop over them)
    strips = (p[rising, 0] - ref[0]) * (p[rising, 1] - best[rising])
    return float(sum(strips.tolist()))


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap CI of the mean: (low, high); (v, v) for one value, NaN for none."""
    v = np.asarray(values, dtype=float)
    low, high = bootstrap_mean_cis(np.zeros(len(v), dtype=int), v, 1, n_boot, level, seed)
    return float(low[0, 0]), float(high[0, 0])


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


def bootstrap_mean_cis(
    groups: np.ndarray, values: np.ndarray, n_groups: int, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(low [n_groups, m], high [n_groups, m]): `bootstrap_mean_ci` of each group's values
    in each column of `values` [n, m].

    A group of k defined values resamples as `bootstrap_mean_ci` alone would with `seed`,
    so all groups of k values, in every column, share one set of draws, [n_boot, k].
    """
    values = values[:, None] if values.ndim == 1 else values
    low, high = np.full((n_groups, values.shape[1]), np.nan), np.full((n_groups, values.shape[1]), np.nan)
    by_count: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}  # k: (column, group ids, values [g, k])
    for j, column in enumerate(values.T):
        defined = ~np.isnan(column)
        for ids, rows in by_size(groups[defined], n_groups):
            by_count.setdefault(rows.shape[1], []).append((j, ids, column[defined][rows]))
    alpha = (1 - level) / 2
    for k, batches in by_count.items():
        draws = np.random.default_rng(seed).integers(k, size=(n_boot, k)) if k > 1 else None
        for j, ids, v in batches:
            if draws is None:  # one value: its own interval
                low[ids, j], high[ids, j] = v[:, 0], v[:, 0]
                continue
            step = max(1, CHUNK // (n_boot * k))
            for i in range(0, len(ids), step):
                means = np.take(v[i : i + step], draws, axis=1).mean(axis=2)  # [g, n_boot], C order
                low[ids[i : i + step], j], high[ids[i : i + step], j] = np.quantile(means, [alpha, 1 - alpha], axis=1)
    return low, high

"""Intervals of a setting's mean over its seeds, printed only where they keep their promise.

The method and where it is printed come from the coverage simulation of
`benchmarks/statistical_properties.py` (results/statistics/coverage.csv), on seed
distributions shaped like the studies': Student-t intervals, which cover better than the
percentile and BCa bootstraps at every n up to 10 there.

- violations_total: from `VIOLATIONS_MIN_SEEDS` seeds (t covers 0.91-0.92 at 3, 5 and 10
  seeds; at 2 it covers 0.94 but spans ±8 times the mean, a number read as more than it is).
- return_final: from `RETURN_MIN_SEEDS` seeds, and only when some seeds learned and some did
  not. Where a share of the layouts is never learned, seeds that all learned show no sign of
  it, and no interval built from them covers the mean (0.65 at 5 seeds when 1 in 5 trials
  fails, for every method); `n_seeds_learned` says what they do show.

Elsewhere the interval is left empty and its note says why.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95
VIOLATIONS_MIN_SEEDS = 3
RETURN_MIN_SEEDS = 5
INTERVAL_MIN_SEEDS = {"return_final": RETURN_MIN_SEEDS, "violations_total": VIOLATIONS_MIN_SEEDS}
# the rule in a plot's words
INTERVALS_SAID = (
    f"violations from {VIOLATIONS_MIN_SEEDS} seeds, return from {RETURN_MIN_SEEDS} with seeds both learned and not"
)


def t_intervals(
    means: np.ndarray, stds: np.ndarray, counts: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each like `means`: Student-t intervals of means of `counts` values with
    sample standard deviations `stds` (ddof 1); NaN where a count is below 2."""
    counts = np.asarray(counts, dtype=float)
    df = np.where(counts >= 2, counts - 1, np.nan)
    half = stats.t.ppf(0.5 + level / 2, df) * np.asarray(stds, dtype=float) / np.sqrt(counts)
    return means - half, means + half


def printed_intervals(
    objective: str,
    means: np.ndarray,
    stds: np.ndarray,
    counts: np.ndarray,
    learned: np.ndarray | None = None,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(low, high, note): `t_intervals` of `objective`'s means, emptied (NaN) where the rule
    above prints none, with a note per row: "t 95%" or why there is no interval.

    counts: values behind each mean; learned: for return_final, how many of them learned
    (`n_seeds_learned`)."""
    low, high = t_intervals(means, stds, counts, level)
    counts = np.asarray(counts).astype(int)
    most = INTERVAL_MIN_SEEDS.get(objective, VIOLATIONS_MIN_SEEDS)
    percent = f"{100 * level:g}%"
    k = np.asarray(learned if learned is not None else counts).astype(int)
    short = counts < most
    uniform = ~short & (learned is not None) & ((k == 0) | (k == counts))
    notes = np.full(len(counts), f"t {percent}", dtype=object)
    notes[uniform & (k > 0)] = "none: every seed learned, and unlearned layouts would not show"
    notes[uniform & (k == 0)] = "none: no seed learned, and unlearned layouts would not show"
    for n in np.unique(counts[short]).tolist():  # a few distinct counts, not one per setting
        notes[short & (counts == n)] = f"none: {n} seed{'s' if n != 1 else ''}, a {percent} interval needs {most}"
    empty = short | uniform
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high), notes.tolist()

"""Which settings the seeds tell apart: a confident verdict per setting of a study.

Settings run on the same seeds (each seed a fixed layout), so they are compared paired by
seed: the per-seed difference removes the layout, most of the variance. For two settings A
and B, on the seeds both ran, in each objective (return_final; violations_total on a log
scale, log(1 + violations), since layouts differ by factors):

- A *beats* B when A's mean difference is at least −tolerance in both objectives and more
  than +tolerance in one (`RETURN_TOLERANCE`, `VIOLATIONS_TOLERANCE`: differences smaller
  than these mean nothing to a researcher, and a table that ranks on them ranks on noise);
- A *dominates B with confidence* when A beats B and, in an objective where it is better by
  more than the tolerance, a paired t-test rejects "no difference" at the family-wise level
  `LEVEL`, Holm-corrected over every such test of the table.

A setting is then ``dominated`` (with confidence, by the settings named), ``undecided``
(some setting beats it, but the seeds do not confirm it), or on the ``front`` (no setting
beats it). Tests need `VERDICT_MIN_SEEDS` shared seeds; with fewer, no verdict is confident.
The false-dominance rate and the power of this rule are measured by simulation in
`benchmarks/statistical_properties.py`. Pure numpy/scipy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.05  # family-wise error rate of a table's dominance calls
RETURN_TOLERANCE = 0.01  # return_final; a step more or less on the path is 0.003
VIOLATIONS_TOLERANCE = float(np.log(1.1))  # log(1 + violations): 10% more or fewer deaths
TOLERANCES = (RETURN_TOLERANCE, VIOLATIONS_TOLERANCE)
# Measured by simulation (benchmarks/statistical_properties.py, results/statistics/dominance.csv):
# in a table of 6 identical settings each learning a layout with probability 0.5, "one setting
# learned all n layouts, another none" passes a t-test in 7.7% of studies at 3 seeds and 8.1%
# at 4; from 5 seeds the false-dominance rate stays under LEVEL in every scenario.
VERDICT_MIN_SEEDS = 5
# Above this many settings (a search's first phase, one seed each), pairs are not compared:
# the verdicts follow the means' Pareto ranks, and nothing is confident.
PAIRWISE_MOST = 500
VERDICTS = ("front", "undecided", "dominated")


def scores(returns: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """[..., 2]: both objectives as scores to maximise: return_final, −log(1 + violations)."""
    return np.stack([np.asarray(returns, dtype=float), -np.log1p(np.asarray(violations, dtype=float))], axis=-1)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values of `p` [m] (NaN: not tested, left NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def paired_t(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [...], n [...], two-sided p [...]) of paired differences `diffs` [..., seeds]
    (NaN: a seed not shared), by Student's t (as `scipy.stats.ttest_rel`); p is NaN below
    `VERDICT_MIN_SEEDS` shared seeds, 0 for a constant non-zero difference, 1 for none."""
    shared = ~np.isnan(diffs)
    n = shared.sum(axis=-1)
    d = np.where(shared, diffs, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = d.sum(axis=-1) / n
        var = np.where(shared, (d - mean[..., None]) ** 2, 0.0).sum(axis=-1) / (n - 1)
        t = mean / np.sqrt(var / n)
        p = 2 * stats.t.sf(np.abs(t), np.maximum(n - 1, 1))
    p = np.where(var <= 0, np.where(mean == 0, 1.0, 0.0), p)
    return mean, n, np.where(n >= VERDICT_MIN_SEEDS, p, np.nan)


@dataclass(frozen=True)
class Verdicts:
    """Per setting: verdict (`VERDICTS`), the settings dominating it with confidence, those
    beating it unconfirmed, and the Holm-adjusted p of its strongest dominance test."""

    verdict: list[str]
    dominated_by: list[Sequence[int]]
    undecided_against: list[Sequence[int]]
    dominance_p: np.ndarray


def verdicts(per_seed: np.ndarray, tolerances: Sequence[float] = TOLERANCES, level: float = LEVEL) -> Verdicts:
    """Verdicts of `per_seed` [settings, seeds, 2]: `scores`, NaN where a setting did not run
    a seed (or its value is undefined)."""
    s = per_seed.shape[0]
    tol = np.asarray(tolerances, dtype=float)
    if s > PAIRWISE_MOST:
        return ranked_verdicts(np.nanmean(per_seed, axis=1))
    # [A, B, seeds, 2]: A − B
    diffs = per_seed[:, None, :, :] - per_seed[None, :, :, :]
    mean, _, p = paired_t(np.moveaxis(diffs, 2, -1))  # [A, B, 2]
    beats = np.all(mean >= -tol, axis=-1) & np.any(mean > tol, axis=-1)
    np.fill_diagonal(beats, False)
    # The family: every pair and objective that could be tested, each once (a two-sided
    # test); counting only the pairs whose means differ would select on the data and let
    # a table of identical settings call one dominated in 1 of 10 studies.
    upper = np.triu(np.ones((s, s), dtype=bool), k=1)[..., None] & ~np.isnan(p)
    adjusted = np.full(p.shape, np.nan)
    adjusted[upper] = holm(p[upper])
    adjusted = np.fmin(adjusted, np.swapaxes(adjusted, 0, 1))  # the pair's test, either way round
    candidate = beats[..., None] & (mean > tol) & ~np.isnan(adjusted)
    confident = beats & np.any(candidate & (adjusted <= level), axis=-1)
    best = np.where(candidate, adjusted, np.inf).min(axis=-1)  # [A, B]
    out_verdict, by, against, strongest = [], [], [], np.full(s, np.nan)
    for b in range(s):
        dominators = np.flatnonzero(confident[:, b]).tolist()
        beaters = np.flatnonzero(beats[:, b] & ~confident[:, b]).tolist()
        out_verdict.append("dominated" if dominators else "undecided" if beaters else "front")
        by.append(dominators)
        against.append(beaters)
        tested = best[:, b][beats[:, b]]
        if np.isfinite(tested).any():
            strongest[b] = float(tested[np.isfinite(tested)].min())
    return Verdicts(out_verdict, by, against, strongest)


def ranked_verdicts(means: np.ndarray) -> Verdicts:
    """Verdicts of a table too large to compare pairwise: `means` [settings, 2] (scores)
    on the front or undecided, none confident."""
    from sweeps.pareto import pareto_ranks

    filled = np.where(np.isnan(means), -np.inf, means)
    ranks = pareto_ranks(filled, [1, 1])
    n = len(ranks)
    return Verdicts(
        np.where(ranks == 1, "front", "undecided").tolist(),
        [()] * n,  # one empty tuple for all: 10^5 new lists would cost the garbage collector 0.7 s
        [()] * n,
        np.full(n, np.nan),
    )


def summary(table) -> str:
    """In plain words, what pareto.csv's verdicts (`table`: its rows) tell apart: the pairs
    of settings ordered with confidence, or that none is and why."""
    dominated = table[table["verdict"] == "dominated"]
    undecided = table[table["verdict"] == "undecided"]
    seeds = int(table["n_seeds"].min()) if len(table) else 0
    if len(dominated):
        pairs = [
            f"{by} dominates {row.setting}" for row in dominated.itertuples() for by in row.dominated_by.split("; ")
        ]
        said = f"{len(pairs)} pair(s) ordered with confidence: " + "; ".join(pairs) + "."
    else:
        said = "No setting is dominated with confidence"
        if seeds < VERDICT_MIN_SEEDS:
            said += f": the settings share {seeds} seeds, and a verdict needs {VERDICT_MIN_SEEDS}"
        said += "."
    if len(undecided):
        said += (
            f" Undecided at these seeds: {len(undecided)} setting(s) beaten in the means only"
            " (--seeds auto adds seeds until they are decided)."
        )
    return said

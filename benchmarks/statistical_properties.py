"""Do the studies' intervals cover and their verdicts keep their error rate at 2 to 10 seeds?

Simulated studies shaped like ours (`sweeps.seed_simulation`): a seed is a layout, every
setting runs the same layouts (paired), and a layout shifts every setting alike. A trial
that learns its layout returns 0.955 + layout N(0, 0.003) + trial N(0, 0.002); one that does
not returns uniform 0-0.3. Violations are Poisson counts of mean median · exp(layout +
trial), log-normal effects of sd 0.5 (layouts differ by ~3x) and 0.2 (a trial's own noise).
Three measurements, each at n = 2, 3, 5 and 10 seeds:

1. coverage.csv: how often a 95% interval of one setting's mean over its n seeds holds the
   true mean (a Monte Carlo draw of 2·10^6 layouts): Student t (`sweeps.intervals`), and
   scipy's bootstrap, percentile and BCa (999 resamples; the percentile interval is taken
   from the BCa call's bootstrap distribution, the one `method="percentile"` would draw;
   one call bootstraps a batch of studies, which share its resampled seed indices).
   Six seed distributions: returns all learned, learned with probability 0.5 or 0.8 per
   trial, 30% of layouts never learned; violations of a shield (median 35) and of dqn (240).
2. hypervolume_coverage.csv: the same for the hypervolume (return maximised, violations
   minimised, reference (0, 400)) of the means of five settings: dqn (240 violations),
   priors (return 0-0.05, 6 violations), three shields (25, 35, 60). Intervals: a percentile
   bootstrap of each setting's seeds resampled on their own (`resampled_hypervolumes`),
   percentile and BCa intervals of a paired bootstrap (the same seeds for every setting),
   and the estimate ± t · its paired jackknife standard error, the report's interval
   (`sweeps.results.hypervolume_table`; for one mean, the Student-t interval). The true
   hypervolume is that of the true means.
3. dominance.csv: the verdicts of `sweeps.verdicts` as the report calls them, with the
   minimum of shared seeds lowered to 2 so every n is shown. False dominance: the share of
   studies of 2 (or 6) identical settings in which one is called dominated (target: 5%).
   Power: the share in which a worse setting A is called dominated by B (B 30% or 50% fewer
   violations; or B learns every layout and A each with probability 0.5, at equal
   violations), and the wrong way round: B called dominated by A.

Columns: coverage.csv and hypervolume_coverage.csv give per method and n the coverage, the
share of NaN intervals (BCa on degenerate samples; counted as not covering), the mean width
of the others, the shares lying wholly below and above the truth, and `sims`;
dominance.csv gives per scenario, number of settings, n and measure the rate and `sims`.

A rate over S simulated studies has a Monte Carlo standard error of √(r(1 − r)/S): ±0.005
for a coverage near 0.95 or a rate near 0.05 at the default 2,000 (the CSVs give S). Where
a share q of the trials or layouts is never learned, a study whose n seeds all learned
(probability (1 − q)^n) shows no sign of the other mode, and an interval built from their
spread misses the mean: coverage is at most about 1 − (1 − q)^n, whatever the method.

    python benchmarks/statistical_properties.py                       # ~4 CPU minutes, one core
    python benchmarks/statistical_properties.py --seeds 4 --sims 500 --hv-sims 200 --seed 1
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import moocore
import numpy as np
import pandas as pd
from scipy import stats

from sweeps import verdicts as rule
from sweeps.intervals import LEVEL, t_intervals
from sweeps.pareto import by_size, hypervolume_2d, pareto_ranks
from sweeps.results import OBJECTIVES
from sweeps.seed_simulation import DQN, PRIORS, SHIELD, Scenario, Setting, paired_hypervolume, simulate, true_means

SEEDS = (2, 3, 5, 10)  # seeds per study
N_RESAMPLES = 999
CHUNK = 1 << 22  # elements of a temporary array built at once (32 MB of float64)
REFERENCE = (0.0, 400.0)  # (return_final, violations_total): the worst point of the hypervolume
MAXIMISE = (True, False)
COVERAGE_TARGET = LEVEL - 0.05  # an interval within 5 points of its nominal level
FALSE_DOMINANCE_TARGET = rule.LEVEL


def hypervolume_of_means(returns: np.ndarray, violations: np.ndarray, axis: int = -1) -> np.ndarray:
    """`paired_hypervolume` to `REFERENCE`: returns, violations [settings, ..., seeds] → [...]."""
    return paired_hypervolume(returns, violations, REFERENCE, axis)


def score(low: np.ndarray, high: np.ndarray, truth: float) -> dict[str, float]:
    """Coverage of `truth` by intervals [low, high] (NaN: not covering), and how they miss."""
    nan = np.isnan(low) | np.isnan(high)
    return {
        "coverage": float(np.mean(~nan & (low <= truth) & (truth <= high))),
        "nan_rate": float(np.mean(nan)),
        "mean_width": float(np.nanmean(high - low)) if not nan.all() else float("nan"),
        "below": float(np.mean(high < truth)),  # interval wholly below the truth
        "above": float(np.mean(low > truth)),
        "sims": len(low),
    }


def bootstrap_intervals(data: Sequence[np.ndarray], statistic, paired: bool, rng: np.random.Generator):
    """{"percentile": (low, high), "bca": (low, high)} of one batch of studies, from the
    same `N_RESAMPLES` draws; BCa is NaN where scipy finds the data degenerate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 acceleration of constant samples
        result = stats.bootstrap(
            data,
            statistic,
            n_resamples=N_RESAMPLES,
            batch=250,
            vectorized=True,
            paired=paired,
            axis=-1,
            confidence_level=LEVEL,
            method="BCa",
            rng=rng,
        )
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(result.bootstrap_distribution, [tail, 1 - tail], axis=-1)
    ci = result.confidence_interval
    return {"percentile": (low, high), "bca": (np.asarray(ci.low), np.asarray(ci.high))}


def cell_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator of its own for each table cell, so cells do not depend on each other."""
    return np.random.default_rng([seed, *keys])


COVERAGE_DISTRIBUTIONS = {  # name: (scenario, objective 0 return or 1 violations)
    "return_learned": (Scenario("return_learned", (SHIELD,)), 0),
    "return_learns_0.5": (Scenario("return_learns_0.5", (Setting(learn=0.5),)), 0),
    "return_learns_0.8": (Scenario("return_learns_0.8", (Setting(learn=0.8),)), 0),
    "return_layouts_30%_never": (Scenario("return_layouts_30%_never", (SHIELD,), unlearnable=0.3), 0),
    "violations_shield_35": (Scenario("violations_shield_35", (SHIELD,)), 1),
    "violations_dqn_240": (Scenario("violations_dqn_240", (DQN,)), 1),
}


def coverage(sims: int, seed: int, seeds: Sequence[int] = SEEDS) -> pd.DataFrame:
    """coverage.csv: one row per (method, n, distribution)."""
    rows = []
    for d, (name, (scenario, objective)) in enumerate(COVERAGE_DISTRIBUTIONS.items()):
        truth = float(true_means(scenario, cell_rng(seed, 1, d))[0, objective])
        for n in seeds:
            rng = cell_rng(seed, 1, d, n)
            x = simulate(scenario, sims, n, rng)[objective][0]  # [sims, n]
            low, high = t_intervals(x.mean(axis=-1), x.std(axis=-1, ddof=1), np.full(sims, n))
            intervals = {"t": (low, high), **bootstrap_intervals((x,), np.mean, False, rng)}
            for method, (low, high) in intervals.items():
                rows.append(
                    {"method": method, "n": n, "distribution": name, "true_mean": truth} | score(low, high, truth)
                )
    return pd.DataFrame(rows)


HYPERVOLUME_STUDY = Scenario(
    "dqn_priors_3_shields",
    (DQN, PRIORS, Setting(violations=25.0), Setting(violations=35.0), Setting(violations=60.0)),
)


def hypervolume_coverage(sims: int, seed: int, seeds: Sequence[int] = SEEDS) -> tuple[pd.DataFrame, float]:
    """(hypervolume_coverage.csv: one row per (method, n), the true hypervolume)."""
    truth_points = true_means(HYPERVOLUME_STUDY, cell_rng(seed, 2))
    truth = float(moocore.hypervolume(truth_points, ref=REFERENCE, maximise=MAXIMISE))
    k = len(HYPERVOLUME_STUDY.settings)
    rows = []
    for n in seeds:
        rng = cell_rng(seed, 2, n)
        returns, violations = simulate(HYPERVOLUME_STUDY, sims, n, rng)  # [k, sims, n]
        estimate = hypervolume_of_means(returns, violations)
        exact = [moocore.hypervolume(p, ref=REFERENCE, maximise=MAXIMISE) for p in zip_points(returns, violations)]
        if not np.allclose(estimate, exact, rtol=1e-12, atol=1e-9):
            raise AssertionError("batched hypervolume differs from moocore.hypervolume")
        groups = np.repeat(np.arange(k), n)
        independent = np.empty((2, sims))
        for i in range(sims):
            values = np.stack([returns[:, i].ravel(), violations[:, i].ravel()], axis=-1)  # [k * n, 2]
            draws = resampled_hypervolumes(values, groups, k, REFERENCE, N_RESAMPLES, seed=int(rng.integers(2**31)))
            independent[:, i] = np.quantile(draws, [0.025, 0.975])
        intervals = {"independent_percentile": tuple(independent)}
        paired = bootstrap_intervals((returns, violations), hypervolume_of_means, True, rng)
        intervals |= {f"paired_{method}": ci for method, ci in paired.items()}
        intervals["paired_t_jackknife"] = jackknife_t_interval(returns, violations)
        for method, (low, high) in intervals.items():
            rows.append(
                {"method": method, "n": n, "true_hypervolume": truth, "mean_estimate": float(estimate.mean())}
                | score(low, high, truth)
            )
    return pd.DataFrame(rows), truth


def resampled_hypervolumes(
    values: np.ndarray, groups: np.ndarray, n_groups: int, ref: tuple[float, float], n_boot: int, seed: int
) -> np.ndarray:
    """The bootstrap that resamples each setting's seeds on its own, the comparison for the
    paired intervals: [n_boot] hypervolumes of the settings' means, each over its seeds
    resampled with replacement. values: [n, 2] objectives per trial (NaN: undefined, left
    out of a mean); groups: [n] each trial's setting.

    The draws are those of one loop over draws and settings in order, each setting drawing
    `rng.integers(k, size=k)` for its k seeds, and each mean sums its values one after the
    other, so that results/statistics/hypervolume_coverage.csv rebuilds to the last bit.
    Settings of one size in a row draw in one call (the generator's stream is the same). A
    setting of one seed draws nothing and never changes: of those, only the ones on their
    own front can add area.
    """
    senses = [sense for _, sense in OBJECTIVES]
    sizes = np.bincount(groups, minlength=n_groups)
    resampled = sizes[groups] > 1
    fixed = values[~resampled]
    fixed = fixed[np.all(fixed * senses > np.asarray(ref) * senses, axis=1)]  # the others add nothing
    fixed = fixed[pareto_ranks(fixed, senses) == 1]
    if not resampled.any():
        return np.full(n_boot, hypervolume_2d(fixed, senses, ref))
    order = np.argsort(groups[resampled], kind="stable")
    v = values[resampled][order]  # [r, 2], setting after setting
    ids = np.unique(groups[resampled], return_inverse=True)[1].ravel()[order]  # [r]: setting, in 0..g-1
    k = sizes[sizes > 1]  # [g] seeds per setting
    starts = np.cumsum(k) - k  # [g] each setting's first row
    base = np.repeat(starts, k)  # [r]
    edges = [*np.flatnonzero(np.r_[True, k[1:] != k[:-1]]).tolist(), len(k)]
    runs = [(int(k[a]), int(starts[a]), int(starts[b]) if b < len(k) else len(v)) for a, b in itertools.pairwise(edges)]
    defined = ~np.isnan(v)
    zeroed = [np.ascontiguousarray(np.where(defined[:, j], v[:, j], 0.0)) for j in range(2)]
    counted = [None if defined[:, j].all() else defined[:, j].astype(float) for j in range(2)]  # exact counts
    rng = np.random.default_rng(seed)
    hypervolumes = []
    step = max(1, CHUNK // len(v))
    for first in range(0, n_boot, step):
        d = min(step, n_boot - first)
        picks = np.empty((len(v), d), dtype=np.int64)  # [r, d]: each draw's picks, a column
        for i in range(d):
            for size, start, stop in runs:
                picks[start:stop, i] = rng.integers(size, size=stop - start)
        means = np.empty((d, len(k), 2))
        for batch, rows in by_size(ids, len(k)):
            rows = np.ascontiguousarray(rows.T)  # [size, batch]
            # [size, batch, d]: summed over its first axis, one value after the other
            drawn = np.take(picks, rows, axis=0) + base[rows][..., None]
            for j in range(2):
                sums = np.take(zeroed[j], drawn).sum(axis=0)
                counts = rows.shape[0] if counted[j] is None else np.take(counted[j], drawn).sum(axis=0)
                means[:, batch, j] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).T
        hypervolumes += [hypervolume_2d(np.concatenate([fixed, m]), senses, ref) for m in means]
    return np.asarray(hypervolumes)


def jackknife_t_interval(returns: np.ndarray, violations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) [sims]: the hypervolume of the means ± t(n − 1) · its jackknife standard
    error, each jackknife value leaving one seed out of every setting (paired). For one mean
    this is the Student-t interval exactly. returns, violations: [settings, sims, n]."""
    n = returns.shape[-1]
    left_in = np.array([np.delete(np.arange(n), i) for i in range(n)])  # [n, n − 1]
    left_out = hypervolume_of_means(returns[..., left_in], violations[..., left_in])  # [sims, n]
    se = np.sqrt((n - 1) / n * ((left_out - left_out.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1))
    half = stats.t.ppf(0.5 + LEVEL / 2, n - 1) * se
    estimate = hypervolume_of_means(returns, violations)
    return estimate - half, estimate + half


def zip_points(returns: np.ndarray, violations: np.ndarray) -> list[np.ndarray]:
    """Each study's [settings, 2] means of `returns`, `violations` [settings, sims, n]."""
    means = np.stack([returns.mean(axis=-1), violations.mean(axis=-1)], axis=-1)  # [k, sims, 2]
    return list(np.moveaxis(means, 1, 0))


FALSE_DOMINANCE = {
    "learned": Scenario("learned", (SHIELD,)),
    "learns_0.5": Scenario("learns_0.5", (Setting(learn=0.5),)),
    "learns_0.8": Scenario("learns_0.8", (Setting(learn=0.8),)),
    "layouts_30%_never": Scenario("layouts_30%_never", (SHIELD,), unlearnable=0.3),
}
POWER = {  # A first, B (better) second
    "violations_-30%": Scenario("violations_-30%", (SHIELD, Setting(violations=0.7 * SHIELD.violations))),
    "violations_-50%": Scenario("violations_-50%", (SHIELD, Setting(violations=0.5 * SHIELD.violations))),
    "learns_0.5_vs_1": Scenario("learns_0.5_vs_1", (Setting(learn=0.5), SHIELD)),
}


def study_verdicts(returns: np.ndarray, violations: np.ndarray) -> list[rule.Verdicts]:
    """The verdicts of each simulated study of `returns`, `violations` [settings, sims, n]."""
    per_seed = rule.scores(returns, violations)  # [settings, sims, n, 2]
    with mock.patch.object(rule, "VERDICT_MIN_SEEDS", 2):
        return [rule.verdicts(per_seed[:, i]) for i in range(per_seed.shape[1])]


def row(scenario: str, settings: int, n: int, measure: str, rate: float, sims: int) -> dict:
    """A row of dominance.csv."""
    return {"scenario": scenario, "settings": settings, "n": n, "measure": measure, "rate": float(rate), "sims": sims}


def dominance(sims: int, seed: int, seeds: Sequence[int] = SEEDS) -> pd.DataFrame:
    """dominance.csv: one row per (scenario, settings, n, measure)."""
    rows = []
    for c, (name, scenario) in enumerate(FALSE_DOMINANCE.items()):
        for size in (2, 6):
            table = Scenario(name, scenario.settings * size, scenario.unlearnable)
            for n in seeds:
                found = study_verdicts(*simulate(table, sims, n, cell_rng(seed, 3, c, size, n)))
                rate = np.mean(["dominated" in v.verdict for v in found])
                rows.append(row(name, size, n, "false_dominance", rate, sims))
    for c, (name, scenario) in enumerate(POWER.items()):
        for n in seeds:
            found = study_verdicts(*simulate(scenario, sims, n, cell_rng(seed, 4, c, n)))
            power = np.mean([1 in v.dominated_by[0] for v in found])
            wrong = np.mean([0 in v.dominated_by[1] for v in found])
            rows += [row(name, 2, n, "power", power, sims), row(name, 2, n, "wrong_dominance", wrong, sims)]
    return pd.DataFrame(rows)


def smallest_n(ok: pd.Series) -> str:
    """The smallest n from which on `ok` (indexed by n, alone or last) holds at every n
    measured, or '>N' (N the largest n) when it fails at the largest."""
    ok = ok.set_axis(ok.index.get_level_values(-1)).sort_index()
    holding = [n for n in ok.index if ok.loc[n:].all()]
    return str(holding[0]) if holding else f">{ok.index.max()}"


def show(title: str, table: pd.DataFrame) -> None:
    print(f"\n{title}\n{table.to_string(float_format=lambda v: f'{v:.3f}')}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated studies per cell (intervals, verdicts)")
    parser.add_argument("--hv-sims", type=int, default=500, help="simulated studies per cell (hypervolume)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="seeds per study, n")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/statistics"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    pd.set_option("display.width", 200)

    cov = coverage(args.sims, args.seed, args.seeds)
    cov.to_csv(args.out / "coverage.csv", index=False)
    truths = cov.groupby("distribution", sort=False)["true_mean"].first()
    show("True means (Monte Carlo, 2e6 layouts)", truths.to_frame())
    for column in ("coverage", "nan_rate", "mean_width"):
        pivot = cov.pivot_table(index=["distribution", "n"], columns="method", values=column, sort=False)
        show(f"Intervals of a setting's mean, nominal {LEVEL:.2f}: {column}", pivot[["t", "percentile", "bca"]])
    print(f"[{time.process_time() - cpu:.0f} CPU s]")

    hv, truth = hypervolume_coverage(args.hv_sims, args.seed, args.seeds)
    hv.to_csv(args.out / "hypervolume_coverage.csv", index=False)
    show(
        f"Hypervolume intervals, nominal {LEVEL:.2f}, true hypervolume {truth:.2f} ({args.hv_sims} studies per n)",
        hv.drop(columns="true_hypervolume").set_index(["n", "method"]),
    )
    print(f"[{time.process_time() - cpu:.0f} CPU s]")

    dom = dominance(args.sims, args.seed, args.seeds)
    dom.to_csv(args.out / "dominance.csv", index=False)
    show(
        f"Verdicts (minimum shared seeds lowered to 2): rates over {args.sims} studies",
        dom.pivot_table(index=["measure", "scenario", "settings"], columns="n", values="rate", sort=False),
    )
    print(f"[{time.process_time() - cpu:.0f} CPU s]")

    print(f"\nSummary: the smallest n (of {args.seeds}) from which on the target holds ('>{max(args.seeds)}': none)")
    cov_ok = cov.set_index(["distribution", "method", "n"])["coverage"] >= COVERAGE_TARGET
    cov_n = cov_ok.groupby(level=["distribution", "method"], sort=False).apply(smallest_n).unstack()
    cov_n = cov_n.reindex(list(COVERAGE_DISTRIBUTIONS))
    cov_n.loc["every distribution"] = cov_ok.groupby(level=["method", "n"]).all().groupby(level=0).apply(smallest_n)
    show(f"Mean intervals, coverage >= {COVERAGE_TARGET:.2f}", cov_n[["t", "percentile", "bca"]])
    hv_ok = hv.set_index(["method", "n"])["coverage"] >= COVERAGE_TARGET
    hv_n = hv_ok.groupby(level="method", sort=False).apply(smallest_n)
    show(f"Hypervolume intervals, coverage >= {COVERAGE_TARGET:.2f}", hv_n.to_frame("n"))
    false = dom[dom["measure"] == "false_dominance"].set_index(["scenario", "settings", "n"])["rate"]
    false_ok = false <= FALSE_DOMINANCE_TARGET
    dom_n = false_ok.groupby(level=["scenario", "settings"], sort=False).apply(smallest_n).to_frame("n")
    dom_n.loc[("every scenario", ""), "n"] = smallest_n(false_ok.groupby(level="n").all())
    show(f"Verdicts, false dominance <= {FALSE_DOMINANCE_TARGET:.2f}", dom_n)
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU; CSVs in {args.out}/")


if __name__ == "__main__":
    main()

"""Correctness of the report at 10^5 trials (its time: benchmarks/aggregation.py). Ray-free.

The synthetic studies (`sweeps.synthetic_studies`): `grid` (50 settings × 2,000 seeds) and
`optuna` (10^5 settings, one seed each). The fronts are checked against an independent
O(n log n) dominance test, the fast ranks and dominator lists against brute force on samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeps.pareto import pareto_ranks
from sweeps.results import OBJECTIVES, hypervolume_table, pareto_table
from sweeps.synthetic_studies import synthetic_study, write_published
from sweeps.verdicts import VERDICTS
from tests.sweeps.test_plots import overprinted

SENSES = np.array([sense for _, sense in OBJECTIVES])
MEANS = [f"{name}_mean" for name, _ in OBJECTIVES]
N = 100_000


@pytest.fixture(scope="module", params=["grid", "optuna"])
def study(request) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """(scenario, trials, pareto.csv rows) of a 10^5-trial study."""
    trials, _ = synthetic_study(request.param, N, iterations=2)
    return request.param, trials, pareto_table(trials)


def maximised(table: pd.DataFrame) -> np.ndarray:
    """[n, 2]: pareto.csv's means, both maximised, an undefined one the worst (as ranked)."""
    return np.nan_to_num(table[MEANS].to_numpy(dtype=float) * SENSES, nan=-np.inf)


def pairwise(points: np.ndarray) -> np.ndarray:
    """[n, n]: points[i] dominates points[j], by the definition, every pair at once."""
    p = points * SENSES
    return np.all(p[:, None] >= p[None], axis=2) & np.any(p[:, None] > p[None], axis=2)


def dominated(points: np.ndarray, by: np.ndarray) -> np.ndarray:
    """[n]: whether some point of `by` [m, 2] dominates each of `points` [n, 2] (both
    objectives maximised), by sorting: the best second objective among the points at least
    (or strictly) as good in the first beats (or reaches) the point's own."""
    order = np.argsort(-by[:, 0], kind="stable")
    x, best = by[order, 0], np.maximum.accumulate(by[order, 1])
    at_least = np.searchsorted(-x, -points[:, 0], side="right")  # by-points with x >= the point's
    beyond = np.searchsorted(-x, -points[:, 0], side="left")  # with x > the point's
    best_at_least = np.where(at_least > 0, best[np.maximum(at_least - 1, 0)], -np.inf)
    best_beyond = np.where(beyond > 0, best[np.maximum(beyond - 1, 0)], -np.inf)
    return (best_at_least > points[:, 1]) | (best_beyond >= points[:, 1])


def test_the_front_at_scale_is_exactly_the_undominated_settings(study):
    """No front point is dominated by any setting, every other one by a front point."""
    _, _, table = study
    points = maximised(table)
    front = table["on_front"].to_numpy(dtype=bool)
    assert 0 < front.sum() < len(table)
    assert not dominated(points[front], points).any()
    assert dominated(points[~front], points[front]).all()
    assert (table["pareto_rank"] == 1).equals(table["on_front"])


def test_rank_two_at_scale_is_the_front_of_the_rest(study):
    _, _, table = study
    points = maximised(table)
    rest = table["pareto_rank"].to_numpy() > 1
    second = table["pareto_rank"].to_numpy()[rest] == 2
    assert not dominated(points[rest][second], points[rest]).any()
    assert dominated(points[rest][~second], points[rest][second]).all()


def test_hypervolume_at_scale_counts_pareto_csvs_front(study):
    _, trials, table = study
    hv = hypervolume_table(trials, table).iloc[0]
    assert hv["n_front"] == table["on_front"].sum()
    # the staircase under the front, summed independently: strips by falling return
    ref = np.array([hv["reference_return"], hv["reference_violations"]]) * SENSES
    front = table.loc[table["on_front"], MEANS].to_numpy(dtype=float) * SENSES
    front = front[np.all(front > ref, axis=1)]
    front = front[np.argsort(-front[:, 0])]
    heights = np.diff(np.r_[ref[1], np.maximum.accumulate(front[:, 1])])
    assert hv["hypervolume"] == pytest.approx(float(((front[:, 0] - ref[0]) * heights).sum()), rel=1e-12)
    assert hv["ci_low"] <= hv["hypervolume"] <= hv["ci_high"] or hv["ci_note"].startswith("none")


def test_verdicts_at_scale_name_what_they_rest_on(study):
    """Every row has a verdict; a dominated one names its dominators, an undecided one the
    settings beating it, a front one neither. The search (one seed each) confirms nothing:
    its verdicts follow the means' front."""
    scenario, _, table = study
    assert set(table["verdict"]) <= set(VERDICTS)
    names = table[["dominated_by", "undecided_against"]].fillna("")
    assert (names.loc[table["verdict"] == "dominated", "dominated_by"] != "").all()
    assert (names.loc[table["verdict"] == "undecided", "undecided_against"] != "").all() or scenario == "optuna"
    assert (names.loc[table["verdict"] == "front"] == "").all().all()
    if scenario == "optuna":
        assert (table["verdict"] == "front").equals(table["on_front"]) and "dominated" not in set(table["verdict"])


@pytest.mark.parametrize("seed", range(3))
def test_fast_fronts_match_brute_force_on_samples_of_the_study(seed):
    """Ranks of 400 of the search's settings, pairwise."""
    trials, _ = synthetic_study("optuna", 2_000, iterations=1, seed=seed)
    points = trials[["return_final", "violations_total"]].to_numpy(dtype=float)
    points = np.nan_to_num(points, nan=0.0)[np.random.default_rng(seed).choice(len(points), 400, replace=False)]
    points[:40] = points[40:80]  # identical settings too
    n, dom = len(points), pairwise(points)
    ranks, remaining, rank = np.zeros(n, dtype=int), np.ones(n, dtype=bool), 0
    while remaining.any():  # peel fronts
        rank += 1
        layer = remaining & ~(dom & remaining[:, None]).any(axis=0)
        ranks[layer], remaining = rank, remaining & ~layer
    np.testing.assert_array_equal(pareto_ranks(points, SENSES), ranks)


@pytest.mark.slow  # 10^5 trials written and reported: about 15 s
def test_the_report_at_scale_writes_its_plots_legibly(tmp_path):
    """write_report on a published folder of 10^5 settings: tables, and plots naming only
    a few settings (no text over another, none outside the figure)."""
    from sweeps.curves_plot import curves_figure
    from sweeps.pareto_plot import named_settings, pareto_figure
    from sweeps.plot_style import NAMED_MOST
    from sweeps.report import read_published, write_report

    trials, curves = synthetic_study("optuna", N, iterations=2)
    folder = write_published(tmp_path / "optuna", trials, curves)
    paths = write_report(folder, title="optuna")
    for name in ("pareto.png", "curves_return.png", "curves_violations.png"):
        assert paths[name].stat().st_size > 10_000
    table = pd.read_csv(paths["pareto.csv"])
    assert len(table) == trials.loc[trials["status"] == "TERMINATED", "setting"].nunique()
    assert pd.read_csv(paths["hypervolume.csv"])["n_front"].iloc[0] == table["on_front"].sum()
    named = named_settings(table)
    assert len(named) <= NAMED_MOST and set(table.loc[table["on_front"], "setting"]) >= set(named)
    trials, curves, _ = read_published(folder)
    assert overprinted(pareto_figure(table, trials, "optuna")) == []
    assert overprinted(curves_figure(curves, "return_final", "return", "optuna", "s", named)) == []

"""The verdicts of pareto.csv on constructed studies: what the seeds support, and no more."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sweeps.results import TRIAL_COLUMNS, pareto_table
from sweeps.verdicts import VERDICT_MIN_SEEDS, holm, paired_t, scores, verdicts

LAYOUTS = np.array([300.0, 170.0, 250.0, 90.0, 120.0])  # dqn's deaths differ by 3x between layouts


def study(per_setting: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """trials.csv rows of shield settings named by d_max, from (returns, violations) per seed."""
    rows = []
    for d_max, (returns, violations) in per_setting.items():
        for seed, (r, v) in enumerate(zip(returns, violations, strict=True)):
            rows.append(
                {"status": "TERMINATED", "agent": "nstep3", "setting": f"shield d_max={d_max}", "mode": "shield",
                 "d_max": float(d_max), "seed": seed, "return_final": r, "violations_total": v}
            )  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=list(TRIAL_COLUMNS))


def by_setting(trials: pd.DataFrame) -> pd.DataFrame:
    return pareto_table(trials).set_index("setting")


def noisy(rng: np.random.Generator, scale: float) -> tuple[np.ndarray, np.ndarray]:
    returns = 0.955 + rng.normal(0, 0.002, len(LAYOUTS))
    return returns, np.round(scale * LAYOUTS * np.exp(rng.normal(0, 0.15, len(LAYOUTS))))


def test_paired_t_is_scipys_paired_test():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (3, 6)), rng.normal(0.5, 1, (3, 6))
    _, n, p = paired_t(a - b)
    assert (n == 6).all()
    np.testing.assert_allclose(p, stats.ttest_rel(a, b, axis=1).pvalue)


def test_paired_t_needs_enough_shared_seeds():
    m = VERDICT_MIN_SEEDS
    diffs = np.full((2, m + 2), np.nan)
    diffs[0, : m - 1] = np.linspace(1.0, 2.0, m - 1)
    diffs[1, :m] = np.linspace(1.0, 2.0, m)
    _, n, p = paired_t(diffs)
    assert n.tolist() == [m - 1, m] and np.isnan(p[0]) and not np.isnan(p[1])


def test_holm_adjusts_step_down_and_leaves_untested_alone():
    adjusted = holm(np.array([0.01, 0.04, np.nan, 0.03]))
    np.testing.assert_allclose(adjusted[[0, 1, 3]], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[2])


def test_settings_from_one_distribution_are_undecided_not_dominated():
    rng = np.random.default_rng(0)
    table = by_setting(study({"1": noisy(rng, 0.15), "2": noisy(rng, 0.15)}))
    assert "dominated" not in set(table["verdict"])
    assert set(table["verdict"]) <= {"front", "undecided"}


def test_identical_settings_tie_on_the_front():
    rng = np.random.default_rng(0)
    same = noisy(rng, 0.15)
    table = by_setting(study({"1": same, "2": same}))
    assert (table["verdict"] == "front").all() and (table["dominated_by"].fillna("") == "").all()


def test_clearly_fewer_deaths_at_equal_return_dominates():
    rng = np.random.default_rng(0)
    table = by_setting(study({"1": noisy(rng, 1.0), "2": noisy(rng, 0.15)}))
    loose = table.loc["shield d_max=1"]
    assert loose["verdict"] == "dominated" and loose["dominated_by"] == "shield d_max=2"
    assert loose["dominance_p"] < 0.05
    assert table.loc["shield d_max=2", "verdict"] == "front"


def test_a_return_difference_within_the_tolerance_does_not_save_a_setting():
    """Nine times the deaths at a return higher by 0.0001 is dominated, not on the front."""
    rng = np.random.default_rng(0)
    returns, violations = noisy(rng, 0.15)
    table = by_setting(study({"1": (returns + 1e-4, violations * 9), "2": (returns, violations)}))
    assert table.loc["shield d_max=1", "verdict"] == "dominated"
    assert not table.loc["shield d_max=1", "on_front"] or table.loc["shield d_max=1", "pareto_rank"] == 1


def test_a_trade_off_is_on_the_front():
    rng = np.random.default_rng(0)
    learns = noisy(rng, 0.15)
    never = (np.zeros(len(LAYOUTS)), np.round(0.02 * LAYOUTS))  # no return, hardly a death
    table = by_setting(study({"1": learns, "2": never}))
    assert (table["verdict"] == "front").all()


def test_too_few_seeds_leave_a_clear_difference_undecided():
    rng = np.random.default_rng(0)
    (r1, v1), (r2, v2) = noisy(rng, 1.0), noisy(rng, 0.15)
    n = VERDICT_MIN_SEEDS - 1
    table = by_setting(study({"1": (r1[:n], v1[:n]), "2": (r2[:n], v2[:n])}))
    row = table.loc["shield d_max=1"]
    assert row["verdict"] == "undecided" and row["undecided_against"] == "shield d_max=2"
    assert np.isnan(row["dominance_p"])


def test_unshared_seeds_are_not_compared():
    rng = np.random.default_rng(0)
    (r1, v1), (r2, v2) = noisy(rng, 1.0), noisy(rng, 0.15)
    trials = study({"1": (r1, v1), "2": (r2, v2)})
    trials.loc[trials["setting"].str.endswith("=1"), "seed"] += 100  # no seed in common
    table = by_setting(trials)
    assert (table["verdict"] == "front").all()


@pytest.mark.parametrize("n_settings", [3, 6])
def test_verdicts_of_a_table_hold_their_family_wise_level(n_settings):
    """Holm over the whole table: many identical settings, few false calls (a loose check of
    the rule's plumbing; the rates themselves are measured in benchmarks/statistical_properties.py)."""
    rng = np.random.default_rng(2)
    layout = rng.normal(0, 0.5, (200, 1, 6))
    calls = 0
    for study_layout in layout:
        violations = np.exp(np.log(35) + study_layout + rng.normal(0, 0.2, (n_settings, 6)))
        found = verdicts(scores(np.full((n_settings, 6), 0.955), violations))
        calls += "dominated" in found.verdict
    assert calls / len(layout) <= 0.1

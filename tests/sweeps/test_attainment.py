"""Each seed's front and the attainment surfaces across seeds, on constructed trials tables,
checked by brute force; attainment.png written and legible. Ray-free."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeps.attainment import (
    ATTAINMENT_COLUMNS,
    FRONT_COLUMNS,
    attainment_figure,
    attainment_table,
    seed_fronts,
    write_attainment,
)
from tests.sweeps.test_pareto import dominates
from tests.sweeps.test_plots import overprinted
from tests.sweeps.test_results import documented_columns

SENSES = np.array([1, -1])  # maximise return, minimise violations


def trials_of(rows: list[tuple[str, int, float, float]], status: str = "TERMINATED") -> pd.DataFrame:
    """trials.csv's columns that the attainment reads, from (setting, seed, return_final,
    violations_total)."""
    frame = pd.DataFrame(rows, columns=["setting", "seed", "return_final", "violations_total"])
    return frame.assign(agent="nstep3", mode=frame["setting"].str.split().str[0], status=status, env_steps=100_000.0)


def random_trials(seed: int) -> pd.DataFrame:
    """8 settings × 5 seeds on a coarse lattice (ties and identical points are common); a
    setting skips some seeds, some trials are unfinished, some returns undefined."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"shield d_max={d}", s, rng.integers(0, 5) / 4, float(rng.integers(0, 6) * 10 ** rng.integers(0, 3)))
        for d in range(8)
        for s in (123, 456, 789, 1000, 1001)
        if rng.random() < 0.8
    ]
    trials = trials_of(rows)
    trials.loc[rng.random(len(trials)) < 0.1, "status"] = "UNFINISHED"
    trials.loc[rng.random(len(trials)) < 0.05, "return_final"] = np.nan
    return trials


def brute_fronts(trials: pd.DataFrame) -> set[tuple[int, str]]:
    """(seed, setting) of every finished, defined trial no trial of its seed dominates."""
    done = trials[trials["status"] == "TERMINATED"].dropna(subset=["return_final", "violations_total"])
    out = set()
    for seed, group in done.groupby("seed"):
        points = group[["return_final", "violations_total"]].to_numpy()
        for i, setting in enumerate(group["setting"]):
            if not any(dominates(other, points[i], SENSES) for other in points):
                out.add((int(seed), setting))
    return out


def attaining(trials: pd.DataFrame, goal: tuple[float, float]) -> int:
    """Seeds with a finished trial at least as good as `goal` (return, violations) in both."""
    done = trials[trials["status"] == "TERMINATED"]
    reached = (done["return_final"] >= goal[0]) & (done["violations_total"] <= goal[1])
    return done.loc[reached, "seed"].nunique()


@pytest.mark.parametrize("seed", range(8))
def test_each_seeds_front_is_its_undominated_settings_by_brute_force(seed):
    """Only settings that ran the seed, finished, with both objectives defined."""
    trials = random_trials(seed)
    fronts = seed_fronts(trials)
    assert list(fronts.columns) == list(FRONT_COLUMNS)
    assert set(zip(fronts["seed"].astype(int), fronts["setting"], strict=True)) == brute_fronts(trials)
    for _, front in fronts.groupby("seed"):  # along the front: violations and return rise together
        assert front["violations_total"].is_monotonic_increasing and front["return_final"].is_monotonic_increasing


@pytest.mark.parametrize("seed", range(8))
def test_surfaces_bound_what_k_seeds_attain_by_brute_force(seed):
    """Every vertex of the k-seed surface is attained by at least k seeds; a goal a little
    better in either objective than a vertex, by fewer (the surface is tight)."""
    trials = random_trials(seed)
    surfaces = attainment_table(trials)
    n = trials.loc[trials["status"] == "TERMINATED", "seed"].nunique()
    assert list(surfaces.columns) == list(ATTAINMENT_COLUMNS)
    assert set(surfaces["surface"]) <= {"best", "median", "worst"} and (surfaces["n_seeds"] == n).all()
    expected_k = {"best": 1, "median": -(-n // 2), "worst": n}
    for row in surfaces.itertuples():
        k = row.n_seeds_attaining
        assert k == expected_k[row.surface] and row.percentile == pytest.approx(100 * k / n)
        assert attaining(trials, (row.return_final, row.violations_total)) >= k
        assert attaining(trials, (row.return_final + 1e-9, row.violations_total)) < k
        assert attaining(trials, (row.return_final, row.violations_total - 1e-9)) < k
    best = surfaces[surfaces["surface"] == "best"]
    assert len(best) and best["violations_total"].is_monotonic_increasing


@pytest.mark.parametrize("n_seeds", [1, 3, 4])
def test_with_the_same_points_on_every_seed_each_surface_is_that_front(n_seeds):
    points = [("dqn", 0.95, 240.0), ("shield a", 0.94, 30.0), ("shield b", 0.5, 3.0), ("shield c", 0.4, 5.0)]
    points += [("shield d", 0.94, 30.0), ("priors", 0.0, 3.0)]  # a duplicate; one dominated by a tie
    trials = trials_of([(s, seed, r, v) for seed in range(n_seeds) for s, r, v in points])
    front = [(0.5, 3.0), (0.94, 30.0), (0.95, 240.0)]
    fronts = seed_fronts(trials)
    assert set(fronts["setting"]) == {"dqn", "shield a", "shield b", "shield d"}
    surfaces = attainment_table(trials)
    for surface in ("best", "median", "worst"):
        at = surfaces[surfaces["surface"] == surface]
        assert list(zip(at["return_final"], at["violations_total"], strict=True)) == front


def test_a_seed_without_a_defined_point_counts_and_leaves_the_worst_surface_empty():
    trials = trials_of([("shield a", 1, 0.9, 10.0), ("shield a", 2, 0.8, 20.0), ("shield a", 3, np.nan, 5.0)])
    surfaces = attainment_table(trials)
    assert (surfaces["n_seeds"] == 3).all()
    assert surfaces.loc[surfaces["surface"] == "median", ["return_final", "violations_total"]].values.tolist() == [
        [0.8, 20.0]
    ]
    assert "worst" not in set(surfaces["surface"])


def test_attainment_csv_is_documented():
    assert documented_columns("attainment.csv") == list(ATTAINMENT_COLUMNS)


def test_the_plot_is_written_legibly(tmp_path):
    """attainment.csv and attainment.png; one legend entry per seed and the median surface,
    no text over another; a 10^3-fold span of violations gets a log axis."""
    trials = random_trials(0)
    paths = write_attainment(tmp_path, trials, title="threshold (MiniGrid-LavaCrossingS9N1-v0, symbolic, quick)")
    assert paths["attainment.png"].stat().st_size > 10_000
    pd.testing.assert_frame_equal(pd.read_csv(paths["attainment.csv"]), attainment_table(trials), check_dtype=False)
    fig = attainment_figure(attainment_table(trials), trials, "threshold")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    seeds = sorted(trials.loc[trials["status"] == "TERMINATED", "seed"].unique())
    assert [label for label in labels if label.startswith("seed ")] == [f"seed {s}" for s in seeds]
    assert any(label.startswith("median: ") for label in labels)
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog" and ax.get_xlabel().startswith("violations_total (lava deaths in training)")
    assert ax.get_ylabel() == "return_final"
    assert overprinted(fig) == []


def test_no_finished_trial_writes_nothing_and_removes_an_earlier_report(tmp_path):
    (tmp_path / "attainment.png").write_bytes(b"stale")
    trials = trials_of([("shield a", 1, 0.9, 10.0)], status="UNFINISHED")
    assert write_attainment(tmp_path, trials, title="t") == {}
    assert not (tmp_path / "attainment.png").exists()
    assert attainment_table(trials).empty and list(attainment_table(trials).columns) == list(ATTAINMENT_COLUMNS)

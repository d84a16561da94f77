"""The simulated studies that benchmarks/statistical_properties.py measures the intervals and
verdicts on: their layouts, their means, and the hypervolume of their means."""

from __future__ import annotations

import moocore
import numpy as np
import pytest

from sweeps.seed_simulation import Scenario, Setting, paired_hypervolume, simulate

REFERENCE = (0.0, 400.0)


def test_paired_hypervolume_takes_means_over_seeds():
    returns = np.array([[[0.9, 0.8]], [[0.1, 0.3]]])  # [settings 2, studies 1, seeds 2]
    violations = np.array([[[100.0, 300.0]], [[10.0, 30.0]]])
    expected = moocore.hypervolume([[0.85, 200.0], [0.2, 20.0]], ref=REFERENCE, maximise=[True, False])
    got = paired_hypervolume(returns, violations, REFERENCE)
    assert got.shape == (1,) and got[0] == pytest.approx(expected)


def test_simulated_layouts_are_shared_and_means_as_specified():
    scenario = Scenario("two", (Setting(learn=0.5), Setting(violations=70.0)), unlearnable=0.3)
    returns, violations = simulate(scenario, 4000, 5, np.random.default_rng(1))
    assert returns.shape == violations.shape == (2, 4000, 5)
    learned = returns > 0.5
    assert learned[0].mean() == pytest.approx(0.7 * 0.5, abs=0.01)
    assert learned[1].mean() == pytest.approx(0.7, abs=0.01)
    assert not (learned[0] & ~learned[1]).any()  # an unlearnable layout is unlearnable for all
    log_ratio = np.log1p(violations[1]) - np.log1p(violations[0])
    assert np.median(log_ratio) == pytest.approx(np.log(2), abs=0.05)
    # the layout (log-sd 0.5) is most of the variance; the paired difference removes it,
    # leaving two trials' noise (log-sd 0.2 each) and the counts' (Poisson)
    assert log_ratio.std() < 0.4 < 0.5 < np.log1p(violations[0]).std()

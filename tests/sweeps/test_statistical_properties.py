"""The pieces of benchmarks/statistical_properties.py its tables rest on: the batched hypervolume and the
simulated studies. Loaded by path: on sys.path the script's name would hide the standard
library's `statistics`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import moocore
import numpy as np
import pytest

from sweeps.pareto import hypervolume_2d

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "statistical_properties.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("statistics_benchmark", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_batched_hypervolume_is_moocores(bench):
    rng = np.random.default_rng(0)
    points = rng.uniform([-0.2, 0.0], [1.0, 500.0], (300, 5, 2))  # some beyond the reference
    points[:50, 1, 0] = points[:50, 0, 0]  # ties in return
    got = bench.hypervolumes(points[..., 0], points[..., 1])
    for p, hv in zip(points, got, strict=True):
        assert hv == pytest.approx(moocore.hypervolume(p, ref=bench.REFERENCE, maximise=bench.MAXIMISE), abs=1e-9)
        assert hv == pytest.approx(hypervolume_2d(p, [1, -1], bench.REFERENCE), abs=1e-9)


def test_paired_hypervolume_takes_means_over_seeds(bench):
    returns = np.array([[[0.9, 0.8]], [[0.1, 0.3]]])  # [settings 2, studies 1, seeds 2]
    violations = np.array([[[100.0, 300.0]], [[10.0, 30.0]]])
    expected = moocore.hypervolume([[0.85, 200.0], [0.2, 20.0]], ref=bench.REFERENCE, maximise=bench.MAXIMISE)
    assert bench.paired_hypervolume(returns, violations)[0] == pytest.approx(expected)


def test_simulated_layouts_are_shared_and_means_as_specified(bench):
    scenario = bench.Scenario("two", (bench.Setting(learn=0.5), bench.Setting(violations=70.0)), unlearnable=0.3)
    returns, violations = bench.simulate(scenario, 4000, 5, np.random.default_rng(1))
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

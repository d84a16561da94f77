"""Simulated studies shaped like ours, to measure the statistics of `sweeps.intervals` and
`sweeps.verdicts` (benchmarks/statistical_properties.py, results/statistics/).

A seed is a layout, every setting runs the same layouts (paired), and a layout shifts every
setting alike. A trial that learns its layout returns `LEARNED_RETURN` + layout
N(0, `LAYOUT_RETURN_SD`) + trial N(0, `TRIAL_RETURN_SD`); one that does not returns uniform
`UNLEARNED_RETURN` (0-0.3). Violations are Poisson counts of mean median · exp(layout +
trial), log-normal effects of sd `LAYOUT_LOG_SD` (0.5: layouts differ by ~3x) and
`TRIAL_LOG_SD` (0.2: a trial's own noise). Arrays are [settings, sims, n]: `sims` studies
of n seeds each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sweeps.pareto import hypervolumes_2d
from sweeps.results import OBJECTIVES

LEARNED_RETURN = 0.955
LAYOUT_RETURN_SD = 0.003
TRIAL_RETURN_SD = 0.002
UNLEARNED_RETURN = (0.0, 0.3)  # uniform, a trial that did not learn its layout
LAYOUT_LOG_SD = 0.5  # log-violations: layouts differ by ~3x
TRIAL_LOG_SD = 0.2  # log-violations: a trial's own noise on its layout
TRUE_MEAN_LAYOUTS = 2_000_000  # layouts of the Monte Carlo draw of a setting's true means


@dataclass(frozen=True)
class Setting:
    """A setting's trials: it learns its layout with probability `learn` (never one of the
    study's unlearnable layouts), and its violations have median `violations` over layouts."""

    learn: float = 1.0
    violations: float = 35.0
    unlearned: tuple[float, float] = UNLEARNED_RETURN  # return range when not learned


@dataclass(frozen=True)
class Scenario:
    """Settings run on the same layouts, a share `unlearnable` of which no setting learns."""

    name: str
    settings: tuple[Setting, ...]
    unlearnable: float = 0.0


SHIELD = Setting()
DQN = Setting(violations=240.0)
PRIORS = Setting(learn=0.0, violations=6.0, unlearned=(0.0, 0.05))


def simulate(scenario: Scenario, sims: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(return_final, violations_total), each [settings, sims, n]: `sims` studies of n layouts."""
    shape = (sims, n)
    layout_return = rng.normal(0.0, LAYOUT_RETURN_SD, shape)
    layout_log = rng.normal(0.0, LAYOUT_LOG_SD, shape)
    learnable = rng.random(shape) >= scenario.unlearnable
    returns, violations = [], []
    for s in scenario.settings:
        learned = learnable & (rng.random(shape) < s.learn)
        high = LEARNED_RETURN + layout_return + rng.normal(0.0, TRIAL_RETURN_SD, shape)
        returns.append(np.where(learned, high, rng.uniform(*s.unlearned, shape)))
        violations.append(rng.poisson(s.violations * np.exp(layout_log + rng.normal(0.0, TRIAL_LOG_SD, shape))))
    return np.stack(returns), np.stack(violations).astype(float)


def true_means(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """[settings, 2]: each setting's mean return and violations over `TRUE_MEAN_LAYOUTS`."""
    returns, violations = simulate(scenario, 1, TRUE_MEAN_LAYOUTS, rng)
    return np.stack([returns.mean(axis=(1, 2)), violations.mean(axis=(1, 2))], axis=-1)


def paired_hypervolume(
    returns: np.ndarray, violations: np.ndarray, reference: Sequence[float], axis: int = -1
) -> np.ndarray:
    """[...]: the hypervolume (`OBJECTIVES`' senses, to `reference`) of the settings' means
    over `axis`, the seeds. returns, violations: [settings, ..., seeds]."""
    means = [np.moveaxis(v.mean(axis=axis), 0, -1) for v in (returns, violations)]  # [..., settings] each
    return hypervolumes_2d(np.stack(means, axis=-1), [sense for _, sense in OBJECTIVES], reference)

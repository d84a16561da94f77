from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeps.pareto import group_means, group_stds, hypervolume_2d, hypervolumes_2d, pareto_ranks

SENSES = np.array([1, -1])  # maximise return, minimise violations

points_strategy = st.lists(
    st.tuples(st.integers(0, 6).map(lambda x: x / 6), st.integers(0, 8).map(float)), min_size=1, max_size=12
).map(np.array)


def dominates(a: np.ndarray, b: np.ndarray, senses: np.ndarray) -> bool:
    """a dominates b, by the definition: at least as good in every objective, better in one."""
    a, b = np.asarray(a) * senses, np.asarray(b) * senses
    return bool(np.all(a >= b) and np.any(a > b))


def brute_ranks(points):
    """Peel fronts by checking every pair directly."""
    ranks = np.zeros(len(points), dtype=int)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        rank += 1
        front = {i for i in remaining if not any(dominates(points[j], points[i], SENSES) for j in remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
    return ranks


def brute_hypervolume(points, reference, resolution=240):
    """Monte-Carlo-free grid count of the dominated area, exact on a lattice."""
    xs = np.linspace(reference[0], 1.0, resolution + 1)
    ys = np.linspace(0.0, reference[1], resolution + 1)
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    area = 0.0
    for x, y in itertools.product(cx, cy):
        if any(p[0] >= x and p[1] <= y for p in points):
            area += cell
    return area


@settings(max_examples=60, deadline=None)
@given(points_strategy)
def test_ranks_match_brute_force(points):
    np.testing.assert_array_equal(pareto_ranks(points, SENSES), brute_ranks(points))


@settings(max_examples=25, deadline=None)
@given(points_strategy)
def test_hypervolume_matches_grid_count(points):
    reference = (0.0, 8.0)
    volume = hypervolume_2d(points, SENSES, reference)
    # points lie on a lattice of 1/6 by 1, which the 240-cell grid resolves exactly
    assert volume == pytest.approx(brute_hypervolume(points, reference), abs=1e-9)
    # checked in every example, also those whose area is 0: it is positive exactly when a
    # point beats the reference in both objectives, and only the front contributes to it
    beats_reference = (points[:, 0] > reference[0]) & (points[:, 1] < reference[1])
    assert (volume > 0) == beats_reference.any()
    front = points[pareto_ranks(points, SENSES) == 1]
    assert hypervolume_2d(front, SENSES, reference) == pytest.approx(volume, abs=1e-12)


def test_ranks_refuse_nan():
    """An undefined objective has no place in the order: the caller gives it its worst value."""
    with pytest.raises(ValueError, match="worst value"):
        pareto_ranks(np.array([[np.nan, 1.0], [0.5, 2.0]]), SENSES)
    np.testing.assert_array_equal(pareto_ranks(np.array([[-np.inf, 1.0], [0.5, 2.0]]), SENSES), [1, 1])
    assert pareto_ranks(np.empty((0, 2)), SENSES).tolist() == []


@settings(max_examples=25, deadline=None)
@given(points_strategy)
def test_hypervolume_equals_moocores(points):
    """Ours, for speed (sweeps.pareto.hypervolume_2d), computes moocore's area."""
    import moocore

    reference = np.array([0.0, 8.0])
    better = points[(points[:, 0] > reference[0]) & (points[:, 1] < reference[1])]
    expected = moocore.hypervolume(better, ref=reference, maximise=[True, False]) if len(better) else 0.0
    assert hypervolume_2d(points, SENSES, reference) == pytest.approx(expected, abs=1e-12)


def test_batched_hypervolumes_are_moocores_set_by_set():
    import moocore

    rng = np.random.default_rng(0)
    reference = (0.0, 400.0)
    points = rng.uniform([-0.2, 0.0], [1.0, 500.0], (300, 5, 2))  # some beyond the reference
    points[:50, 1, 0] = points[:50, 0, 0]  # ties in return
    points[50:60, 2] = np.nan  # an undefined point adds nothing
    got = hypervolumes_2d(points, SENSES, reference)
    assert got.shape == (300,)
    for p, hv in zip(points, got, strict=True):
        defined = p[~np.isnan(p).any(axis=1)]
        assert hv == pytest.approx(moocore.hypervolume(defined, ref=reference, maximise=[True, False]), abs=1e-9)
        assert hv == pytest.approx(hypervolume_2d(p, SENSES, reference), abs=1e-9)
    assert hypervolumes_2d(points.reshape(30, 10, 5, 2), SENSES, reference).shape == (30, 10)


def test_hypervolume_known_values():
    assert hypervolume_2d(np.array([[1.0, 0.0]]), SENSES, (0.0, 10.0)) == 10.0
    two = np.array([[1.0, 5.0], [0.5, 0.0]])
    assert hypervolume_2d(two, SENSES, (0.0, 10.0)) == pytest.approx(1.0 * 5 + 0.5 * 5)
    assert hypervolume_2d(np.array([[0.0, 3.0]]), SENSES, (0.0, 10.0)) == 0.0  # no better return


def test_grouped_statistics_equal_one_group_at_a_time_to_the_last_bit():
    """Each group's mean and std as numpy takes them of that group alone, to the last bit,
    so that the committed tables rebuild unchanged."""
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 12, size=300)
    values = rng.normal(50.0, 30.0, size=300) * 10 ** rng.uniform(-3, 3, size=300)
    values[rng.random(300) < 0.1] = np.nan
    means, stds = group_means(groups, values, 13), group_stds(groups, values, 13)
    for g in range(13):
        v = values[groups == g]
        defined = v[~np.isnan(v)]
        assert means[g] == defined.mean() if len(defined) else np.isnan(means[g])
        if len(v) > 1 and len(defined) > 1:
            assert stds[g] == np.nanstd(v, ddof=1)


def test_seed_order_puts_a_budgets_first_seeds_first_without_repeats():
    from sweeps.budgets import PAPER_SEEDS, seeds_for

    assert seeds_for(5) == [*PAPER_SEEDS, 1000, 1001]
    assert seeds_for(4, first=(123, 789)) == [123, 789, 456, 1000]
    assert seeds_for(1, first=(789,)) == [789]

"""The intervals of pareto.csv: Student-t where enough seeds back them, none elsewhere."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sweeps.intervals import RETURN_MIN_SEEDS, VIOLATIONS_MIN_SEEDS, printed_intervals, t_intervals


def test_t_intervals_are_scipys():
    values = np.array([31.0, 40.0, 35.0, 52.0])
    low, high = t_intervals(np.array([values.mean()]), np.array([values.std(ddof=1)]), np.array([4]))
    expected = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    np.testing.assert_allclose([low[0], high[0]], [expected.low, expected.high])


def test_no_violations_interval_is_printed_below_the_measured_minimum():
    counts = np.array([1, VIOLATIONS_MIN_SEEDS - 1, VIOLATIONS_MIN_SEEDS])
    means, stds = np.array([5.0, 5.0, 5.0]), np.array([np.nan, 1.0, 1.0])
    low, high, notes = printed_intervals("violations_total", means, stds, counts)
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all()
    assert low[2] < 5.0 < high[2]
    assert notes[1].startswith(f"none: {VIOLATIONS_MIN_SEEDS - 1} seed") and notes[2] == "t 95%"


def test_a_return_interval_needs_seeds_that_learned_and_seeds_that_did_not():
    n = RETURN_MIN_SEEDS
    counts = np.array([n - 1, n, n, n])
    learned = np.array([2, n, 0, 2])
    means, stds = np.full(4, 0.5), np.full(4, 0.4)
    low, _, notes = printed_intervals("return_final", means, stds, counts, learned)
    assert np.isnan(low[:3]).all() and not np.isnan(low[3])
    assert "every seed learned" in notes[1] and "no seed learned" in notes[2] and notes[3] == "t 95%"

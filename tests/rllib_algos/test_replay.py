from __future__ import annotations

import numpy as np
import pytest

from rllib_algos.paper_dqn import linear
from rllib_algos.replay import TransitionReplay


def filled(n: int, capacity: int = 8) -> TransitionReplay:
    replay = TransitionReplay(capacity, (2,), np.uint8, alpha=0.5)
    obs = np.arange(n, dtype=np.uint8)[:, None].repeat(2, axis=1)
    replay.add(obs, np.arange(n), np.arange(n, dtype=np.float32), obs + 1, np.arange(n) % 3 == 0)
    return replay


def test_ring_keeps_the_newest_transitions_uint8():
    replay = filled(11, capacity=8)
    assert len(replay) == 8 and replay.obs.dtype == np.uint8
    assert sorted(replay.actions.tolist()) == list(range(3, 11))
    i = int(np.flatnonzero(replay.actions == 10)[0])
    assert replay.obs[i, 0] == 10 and replay.next_obs[i, 0] == 11 and replay.rewards[i] == 10.0


def test_sampling_follows_priorities_to_the_power_alpha():
    replay = filled(4, capacity=4)
    replay.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]) - 1e-6)
    idx, _ = replay.sample(200_000, beta=0.4, rng=np.random.default_rng(0))
    freq = np.bincount(idx, minlength=4) / len(idx)
    expected = np.array([1.0, 2.0, 3.0, 4.0]) / 10.0  # p^0.5
    np.testing.assert_allclose(freq, expected, atol=0.005)


def test_importance_weights():
    replay = filled(4, capacity=4)
    replay.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]) - 1e-6)
    idx, batch = replay.sample(64, beta=1.0, rng=np.random.default_rng(1))
    probs = np.array([1.0, 2.0, 3.0, 4.0])[idx] / 10.0
    expected = (4 * probs) ** -1.0 / (4 * 0.1) ** -1.0
    np.testing.assert_allclose(batch["weights"], expected, rtol=1e-5)
    assert batch["weights"].max() <= 1.0 + 1e-6


def test_new_transitions_get_the_largest_priority_seen():
    replay = filled(2, capacity=4)
    replay.update_priorities(np.array([0]), np.array([9.0]))
    replay.add(
        np.zeros((1, 2), np.uint8),
        np.array([5]),
        np.zeros(1, np.float32),
        np.zeros((1, 2), np.uint8),
        np.zeros(1, bool),
    )
    assert replay.priorities[2] == pytest.approx((9.0 + 1e-6) ** 0.5)


def test_linear_schedule():
    assert linear([(0, 0.4), (100, 1.0)], 50) == pytest.approx(0.7)
    assert linear([(0, 0.4), (100, 1.0)], 500) == 1.0

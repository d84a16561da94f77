from __future__ import annotations

import itertools

import numpy as np
import pytest

from rllib_algos.paper_dqn import linear
from rllib_algos.replay import NStepReturns, TransitionReplay


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


def n_step_reference(obs, actions, rewards, terminated, n, gamma):
    """Textbook n-step transitions of one whole episode (obs [T + 1], actions/rewards [T])."""
    T = len(actions)
    out = []
    for t in range(T):
        k = min(n, T - t)
        ret = sum(gamma**j * rewards[t + j] for j in range(k))
        out.append((obs[t], actions[t], ret, obs[t + k], terminated and t + k == T, k))
    return out


def emitted(parts):
    rows = []
    for part in parts:
        if part is not None:
            rows += list(zip(*part, strict=True))
    return rows


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("terminated", [True, False])
def test_n_step_returns_across_chunks_equal_the_whole_episodes(n, terminated):
    rng = np.random.default_rng(n)
    T, gamma = 23, 0.9
    obs = np.arange(T + 1)
    actions = rng.integers(0, 7, T)
    rewards = rng.random(T).astype(np.float32)
    returns = NStepReturns(n, gamma)
    cuts = [0, 4, 5, 13, 22, T]  # chunks of 4, 1, 8, 9, 1 steps, as sampling cuts an episode
    parts = [
        returns.add("e", obs[a : b + 1], actions[a:b], rewards[a:b], terminated and b == T, b == T)
        for a, b in itertools.pairwise(cuts)
    ]
    got = emitted(parts)
    expected = n_step_reference(obs, actions, rewards, terminated, n, gamma)
    assert len(got) == T and not returns.pending  # everything emitted once the episode ended
    for (o, a, r, o2, term, k), (eo, ea, er, eo2, eterm, ek) in zip(got, expected, strict=True):
        assert (o, a, o2, bool(term), int(k)) == (eo, ea, eo2, eterm, ek)
        assert r == pytest.approx(er, rel=1e-5)


def test_n_step_returns_keep_episodes_apart_and_wait_for_missing_steps():
    returns = NStepReturns(3, 0.5)
    one = returns.add("a", np.array([0, 1, 2]), np.array([0, 0]), np.array([1.0, 1.0], np.float32), False, False)
    assert one is None and "a" in returns.pending  # neither step has 3 steps ahead yet
    other = returns.add("b", np.array([10, 11]), np.array([1]), np.array([4.0], np.float32), True, True)
    assert other[0].tolist() == [10] and other[3].tolist() == [11] and other[5].tolist() == [1.0]
    assert other[4].tolist() == [True]
    done = returns.add("a", np.array([2, 3]), np.array([0]), np.array([1.0], np.float32), False, True)
    assert done[0].tolist() == [0, 1, 2] and done[3].tolist() == [3, 3, 3]
    np.testing.assert_allclose(done[2], [1.75, 1.5, 1.0])
    assert not done[4].any()  # truncated: every transition bootstraps from obs 3


def test_n_step_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="n_step"):
        NStepReturns(0, 0.99)


def test_replay_stores_each_transitions_steps():
    replay = TransitionReplay(4, (1,), np.uint8)
    obs = np.zeros((3, 1), np.uint8)
    replay.add(obs, np.arange(3), np.ones(3, np.float32), obs, np.zeros(3, bool), np.array([3.0, 2.0, 1.0]))
    _, batch = replay.sample(64, beta=0.4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(batch["n_steps"], 3.0 - batch["actions"])

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np
import pytest
import torch

from shield.envs import obs_shape
from shield.oracle import OracleEncoder, OracleQ, lava_ahead_from_grid
from shield.pretrain_data import Experience, random_experience
from shield.quality import encoder_auc, prior_q_quality, roc_auc


def brute_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_pairwise_counting_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=40).astype(float)  # many ties
    labels = rng.random(40) < 0.3
    assert roc_auc(scores, labels) == pytest.approx(brute_auc(scores, labels))


def test_roc_auc_known_values():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5], [0, 1]) == 0.5
    assert np.isnan(roc_auc([1.0, 2.0], [1, 1]))


def test_random_experience_labels_the_observation_before_each_death():
    data = random_experience(["MiniGrid-LavaCrossingS9N1-v0"], "symbolic", 3000, seed=3)
    assert len(data) == 3000 and data.obs.dtype == np.uint8
    assert data.unsafe.sum() > 5
    truth = lava_ahead_from_grid(torch.as_tensor(data.obs)).numpy()
    np.testing.assert_array_equal(truth, data.lava_ahead)
    assert data.lava_ahead[data.unsafe].all()  # every death started with lava ahead
    assert data.lava_ahead.sum() > data.unsafe.sum()


def test_quality_figures_of_perfect_networks():
    data = random_experience(["MiniGrid-LavaCrossingS9N2-v0"], "symbolic", 4000, seed=4)
    assert encoder_auc(OracleEncoder(), data) == 1.0
    q = prior_q_quality(OracleQ(), data)
    assert q["unsafe_flagged"] == 1.0 and q["safe_flagged"] == 0.0 and q["n_unsafe"] == data.lava_ahead.sum()


def test_quality_figures_of_a_blind_encoder_are_chance():
    data = random_experience(["MiniGrid-LavaCrossingS9N1-v0"], "symbolic", 3000, seed=5)

    class Blind(torch.nn.Module):
        def forward(self, obs):
            return torch.zeros(len(obs), 50)

    # The reference half holds unsafe rows, so D is finite and tied everywhere: 0.5 is the tie
    # rule, not the NaN of an empty buffer or of a query half with one class only.
    first_half = data.episode <= np.median(data.episode)
    assert data.unsafe[first_half].any()
    assert 0 < data.lava_ahead[~first_half].sum() < (~first_half).sum()
    assert encoder_auc(Blind(), data) == 0.5


ENVS = ["MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N2-v0"]


def test_random_experience_is_well_formed():
    data = random_experience(ENVS, "symbolic", 1500, seed=7)
    assert len(data) == 1500
    assert data.obs.shape == (1500, *obs_shape("symbolic")) and data.obs.dtype == np.uint8
    for name in ("unsafe", "lava_ahead"):
        assert getattr(data, name).shape == (1500,) and getattr(data, name).dtype == bool, name
    assert data.episode.shape == (1500,) and np.issubdtype(data.episode.dtype, np.integer)
    assert data.episode[0] == 0 and set(np.diff(data.episode)) == {0, 1}  # numbered in order, none skipped
    last_of_episode = np.r_[data.episode[1:] != data.episode[:-1], True]
    assert data.unsafe.sum() > 5
    assert not (data.unsafe & ~last_of_episode).any()  # a lava death ends its episode


def test_random_experience_is_deterministic_for_a_seed():
    first, again = random_experience(ENVS, "symbolic", 1500, seed=7), random_experience(ENVS, "symbolic", 1500, seed=7)
    for field in fields(Experience):
        np.testing.assert_array_equal(getattr(first, field.name), getattr(again, field.name), err_msg=field.name)
    other = random_experience(ENVS, "symbolic", 1500, seed=8)
    assert not np.array_equal(first.obs, other.obs)


def test_keep_safe_drops_safe_rows_only():
    full = random_experience(ENVS, "symbolic", 3000, seed=7)
    kept = random_experience(ENVS, "symbolic", 3000, seed=7, keep_safe=0.3)
    assert kept.unsafe.sum() == full.unsafe.sum() > 5  # the same exploration, every death kept
    np.testing.assert_array_equal(kept.obs[kept.unsafe], full.obs[full.unsafe])
    n_safe = (~full.unsafe).sum()
    assert (~kept.unsafe).sum() == pytest.approx(0.3 * n_safe, abs=4 * np.sqrt(0.3 * 0.7 * n_safe))


def test_policy_experience_follows_the_policy_and_stays_on_one_layout():
    from shield.envs import FORWARD

    data = random_experience(
        ["MiniGrid-LavaCrossingS9N1-v0"],
        "symbolic",
        400,
        seed=1,
        policy=lambda env: FORWARD,
        epsilon=0.0,
        layout_seed=9,
    )
    walls = data.obs[..., 0] == 2  # the same layout in every episode: the same walls
    assert (walls == walls[0]).all() and data.episode.max() >= 1


def test_on_policy_figures_of_the_oracle_encoder_are_perfect_and_wait_for_four_deaths():
    from shield.quality import concatenated, distance_figures, on_policy_distances, on_policy_walks

    walks = on_policy_walks(
        "MiniGrid-LavaCrossingS9N1-v0", "symbolic", layouts=(3, 4), explore_steps=600, policy_steps=800
    )
    D, ahead = on_policy_distances(OracleEncoder(), walks, buffer_rule="ring")
    policy = concatenated([walk for _, walk in walks])
    assert len(D) == len(policy) == 1600 and (ahead == policy.lava_ahead).all()
    point = distance_figures(D, ahead)["d_max"]["2.5"]
    assert point["precision"] == 1.0 and point["recall"] == 1.0
    # the oracle maps every lava-ahead state to one point: a distinct buffer holds one row, never active
    D_distinct, _ = on_policy_distances(OracleEncoder(), walks, buffer_rule="distinct")
    assert np.isinf(D_distinct).all()
    assert policy.episode.max() > 50  # the route reaches the goal in ~15 steps (random walks: hundreds)

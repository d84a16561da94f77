from __future__ import annotations

import numpy as np
import pytest
import torch

from shield.envs import ENV_IDS, FORWARD, lava_ahead, make_env, obs_shape, on_lava
from shield.oracle import lava_ahead_from_grid


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("obs", ["symbolic", "pixels"])
def test_observations_are_uint8_of_the_documented_shape(env_id, obs):
    env = make_env(env_id, obs=obs, layout_seed=1)
    first, info = env.reset()
    assert first.dtype == np.uint8 and first.shape == obs_shape(obs) == env.observation_space.shape
    start = tuple(int(v) for v in env.unwrapped.agent_pos)
    assert info == {"cost": 0.0, "unsafe_state": False, "unsafe_action": False, "agent_pos": start}
    after, *_, step_info = env.step(0)  # a turn: the step was taken from the start cell
    assert env.observation_space.contains(after) and step_info["agent_pos"] == start


def test_pixels_match_minigrid_full_render_averaged_over_3x3_blocks():
    env = make_env(obs="pixels", layout_seed=7)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
        full = env.unwrapped.get_frame(highlight=False, tile_size=28).astype(np.int64)
        expected = full.reshape(84, 3, 84, 3, 3).sum(axis=(1, 3)) // 9
        np.testing.assert_array_equal(obs, expected)
        if terminated or truncated:
            env.reset()


def test_fixed_layout_repeats_and_random_layouts_differ():
    fixed = make_env(layout_seed=123)
    assert np.array_equal(fixed.reset()[0], fixed.reset(seed=5)[0])
    free = make_env()
    layouts = {free.reset(seed=s)[0].tobytes() for s in range(5)}
    assert len(layouts) > 1


@pytest.mark.parametrize("env_id", ["MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N3-v0"])
def test_info_ground_truth_and_cost_over_random_play(env_id):
    env = make_env(env_id, obs="symbolic")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    deaths = flagged_states = 0
    for _ in range(3000):
        action = int(rng.choice([0, 1, FORWARD, FORWARD]))
        expected_unsafe = bool(lava_ahead_from_grid(torch.as_tensor(obs)[None])[0])
        assert expected_unsafe == lava_ahead(env)
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["unsafe_state"] == expected_unsafe
        assert info["unsafe_action"] == (expected_unsafe and action == FORWARD)
        assert info["cost"] == (1.0 if info["unsafe_action"] else 0.0)
        assert (info["cost"] == 1.0) == (terminated and on_lava(env))
        if info["cost"]:
            assert reward == 0
        deaths += int(info["cost"])
        flagged_states += int(info["unsafe_state"])
        if terminated or truncated:
            obs, _ = env.reset()
    assert deaths > 5 and flagged_states > deaths


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_id": "MiniGrid-LavaCrossingS11N5-v0"}, "env must be one of"),
        ({"obs": "rgb"}, "obs must be one of"),
    ],
)
def test_bad_env_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_env(**kwargs)

from __future__ import annotations

import numpy as np
import pytest
import torch
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.world_object import Lava

from shield.envs import (
    ENV_IDS,
    FORWARD,
    FRAME,
    LAVA_LOOKS,
    grid_side,
    grid_size,
    lava_ahead,
    lava_tile,
    make_env,
    obs_shape,
    on_lava,
)
from shield.oracle import lava_ahead_from_grid

PIXEL_IDS = [env_id for env_id in ENV_IDS if grid_side(env_id) == FRAME]
LAVA_IDS = [env_id for env_id in ENV_IDS if "SimpleCrossing" not in env_id]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("obs", ["symbolic", "pixels"])
def test_observations_are_uint8_of_the_documented_shape(env_id, obs):
    if obs == "pixels" and env_id not in PIXEL_IDS:
        with pytest.raises(ValueError, match="use obs='symbolic'"):
            make_env(env_id, obs=obs)
        return
    env = make_env(env_id, obs=obs, layout_seed=1)
    first, info = env.reset()
    shape = obs_shape(obs, grid_side(env_id))
    assert first.dtype == np.uint8 and first.shape == shape == env.observation_space.shape
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


def test_a_smaller_grid_is_padded_with_walls_to_the_9x9_frame():
    """DistShift (9 wide, 7 high) and LavaGapS5: the grid at [:width, :height], walls beyond,
    the same in pixels (wall tiles) as in the symbolic frame."""
    for env_id in ("MiniGrid-DistShift1-v0", "MiniGrid-LavaGapS5-v0"):
        width, height = grid_size(env_id)
        symbolic, _ = make_env(env_id).reset(seed=0)
        env = make_env(env_id)
        env.reset(seed=0)
        base = env.unwrapped
        expected = base.grid.encode()
        expected[tuple(base.agent_pos)] = (OBJECT_TO_IDX["agent"], COLOR_TO_IDX["red"], base.agent_dir)
        np.testing.assert_array_equal(symbolic[:width, :height], expected)
        np.testing.assert_array_equal(symbolic[width:, :, 0], OBJECT_TO_IDX["wall"])
        np.testing.assert_array_equal(symbolic[:, height:, 0], OBJECT_TO_IDX["wall"])
        pixels, _ = make_env(env_id, obs="pixels").reset(seed=0)
        wall = pixels[-5:, -5:]  # the bottom-right tile is padding in both: a wall's grey
        assert (wall == wall[0, 0]).all() and wall[0, 0, 0] == wall[0, 0, 1] == wall[0, 0, 2] > 0


@pytest.mark.parametrize("env_id", LAVA_IDS)
def test_info_ground_truth_and_cost_over_random_play(env_id):
    """On every lava task: unsafe_state, unsafe_action and cost against the grid read back
    from the observation (`shield.oracle`) and MiniGrid's own state, over random play."""
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


@pytest.mark.parametrize("env_id", [e for e in ENV_IDS if e not in LAVA_IDS])
def test_the_source_tasks_have_no_lava(env_id):
    env = make_env(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        *_, terminated, truncated, info = env.step(int(rng.integers(3)))
        assert not (info["cost"] or info["unsafe_state"] or info["unsafe_action"])
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_id": "MiniGrid-LavaCrossingS13N4-v0"}, "env must be one of .*MiniGrid-LavaGapS7-v0"),
        ({"env_id": "MiniGrid-LavaCrossingS11N5-v0", "obs": "pixels"}, "11×11: use obs='symbolic'"),
        ({"obs": "rgb"}, "obs must be one of"),
        ({"lava_look": "purple", "obs": "pixels"}, "lava_look must be one of"),
        ({"lava_look": "blue"}, "only obs='pixels' shows: pass --obs pixels"),
    ],
)
def test_bad_env_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_env(**kwargs)


def test_the_default_lava_tile_is_minigrids_own():
    """`lava_tile` redraws MiniGrid's tile step by step; at the default look it must be that tile."""
    for agent_dir in (None, 0, 1, 2, 3):
        expected = Grid.render_tile(Lava(), agent_dir=agent_dir, tile_size=28)
        np.testing.assert_array_equal(lava_tile("orange", agent_dir, 28), expected)


def _lava_pixels(env) -> np.ndarray:
    """bool [84, 84]: the pixels that a lava cell covers, from the grid (28 px tiles, 3×3 averaged)."""
    base = env.unwrapped
    cells = np.zeros((FRAME * 28, FRAME * 28), bool)
    for x in range(base.width):
        for y in range(base.height):
            cell = base.grid.get(x, y)
            if cell is not None and cell.type == "lava":
                cells[y * 28 : (y + 1) * 28, x * 28 : (x + 1) * 28] = True
    return cells.reshape(84, 3, 84, 3).any(axis=(1, 3))


@pytest.mark.parametrize("look", [look for look in LAVA_LOOKS if look != "orange"])
@pytest.mark.parametrize("env_id", ["MiniGrid-LavaCrossingS9N2-v0", "MiniGrid-LavaGapS6-v0", "MiniGrid-DistShift2-v0"])
def test_a_lava_look_changes_the_lava_pixels_and_nothing_else(env_id, look):
    """The same layouts and moves under both looks: equal info and terminations, pixels
    that differ on lava cells only, and on every lava cell in view."""
    default = make_env(env_id, "pixels", layout_seed=3)
    other = make_env(env_id, "pixels", layout_seed=3, lava_look=look)
    rng = np.random.default_rng(1)
    seen_lava = 0
    a, info_a = default.reset(seed=0)
    b, info_b = other.reset(seed=0)
    for _ in range(60):
        lava = _lava_pixels(default)
        changed = (a != b).any(axis=-1)
        assert not (changed & ~lava).any(), "a pixel outside lava changed"
        base = default.unwrapped
        for x in range(base.width):
            for y in range(base.height):
                cell = base.grid.get(x, y)
                if cell is not None and cell.type == "lava":
                    seen_lava += 1
                    block = changed[y * 28 // 3 : (y + 1) * 28 // 3, x * 28 // 3 : (x + 1) * 28 // 3]
                    assert block.any(), f"lava cell {(x, y)} drawn the same"
        assert info_a == info_b
        action = int(rng.choice([0, 1, FORWARD]))
        a, _, done_a, cut_a, info_a = default.step(action)
        b, _, done_b, cut_b, info_b = other.step(action)
        assert (done_a, cut_a) == (done_b, cut_b)
        if done_a or cut_a:
            a, info_a = default.reset()
            b, info_b = other.reset()
    assert seen_lava > 0

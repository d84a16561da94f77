from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shield.envs import grid_side, make_env
from shield.networks import AutoEncoder, QNetwork, QTorso, prepare_obs
from shield.weights import load_frozen, save_frozen


def one_hot_reference(obs: torch.Tensor) -> torch.Tensor:
    """Object type one-hot (11) and state one-hot (4), channels first, written plainly."""
    grid = obs.long()
    objects = nn.functional.one_hot(grid[..., 0].clamp(0, 10), 11)
    states = nn.functional.one_hot(grid[..., 2].clamp(0, 3), 4)
    return torch.cat([objects, states], dim=-1).permute(0, 3, 1, 2).float()


def test_symbolic_input_is_the_one_hot_grid_including_out_of_range_codes():
    gen = torch.Generator().manual_seed(0)
    for high in (12, 256):  # MiniGrid's codes, and any uint8 (clamped like one_hot of the clamp)
        obs = torch.randint(0, high, (64, 9, 9, 3), dtype=torch.uint8, generator=gen)
        assert torch.equal(prepare_obs(obs, "symbolic"), one_hot_reference(obs))


def test_symbolic_torso_ignores_the_wall_border():
    torch.manual_seed(0)
    torso = QTorso("symbolic")
    obs = torch.randint(0, 12, (8, 9, 9, 3), dtype=torch.uint8)
    changed = obs.clone()
    changed[:, 0], changed[:, -1], changed[:, :, 0], changed[:, :, -1] = 3, 3, 3, 3
    torch.testing.assert_close(torso(obs), torso(changed))
    changed[:, 4, 4] = 9  # an inner cell does matter
    assert not torch.allclose(torso(obs), torso(changed))


@pytest.mark.parametrize("env_id", ["MiniGrid-LavaGapS7-v0", "MiniGrid-LavaCrossingS11N5-v0"])
def test_symbolic_networks_are_built_for_the_tasks_frame(env_id):
    """A 9×9 frame (LavaGapS7, padded) and an 11×11 one: Q-values per action, a latent per
    state, and a reconstruction of the input's shape."""
    env = make_env(env_id)
    obs = torch.as_tensor(np.stack([env.reset(seed=s)[0] for s in range(4)]))
    side = grid_side(env_id)
    assert obs.shape == (4, side, side, 3)
    assert QNetwork("symbolic", side=side)(obs).shape == (4, 7)
    z, reconstruction = AutoEncoder("symbolic", side=side)(obs)
    assert z.shape == (4, 50) and reconstruction.shape == prepare_obs(obs, "symbolic").shape


def test_a_network_of_one_frame_is_refused_on_another(tmp_path):
    path = save_frozen(tmp_path / "q.pt", "prior_q", "symbolic", QNetwork("symbolic", side=11))
    assert load_frozen(path, "prior_q", "symbolic", side=11).side == 11
    with pytest.raises(ValueError, match=r"trained on 11×11 grids, but the environment's grid is 9×9"):
        load_frozen(path, "prior_q", "symbolic")
    nine = save_frozen(tmp_path / "q9.pt", "prior_q", "symbolic", QNetwork("symbolic"))
    assert "side" not in torch.load(nine, weights_only=True)  # a 9×9 file reads as it always did
    with pytest.raises(ValueError, match=r"trained on 9×9 grids, but the environment's grid is 11×11"):
        load_frozen(nine, "prior_q", "symbolic", side=11)

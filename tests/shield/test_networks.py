from __future__ import annotations

import torch
from torch import nn

from shield.networks import QTorso, prepare_obs


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

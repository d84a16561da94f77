"""Ground truth from symbolic observations, and hand-built networks that encode it.

The best any learned shield can be: used by tests to check the shield against a perfect
encoder and Q_p, and by the plain loop's `--oracle-shield` (symbolic observations only).
"""

from __future__ import annotations

import torch
from torch import nn

from shield.envs import FORWARD, NUM_ACTIONS

AGENT, LAVA = 10, 9
DIR_TO_VEC = torch.tensor([[1, 0], [0, 1], [-1, 0], [0, -1]])  # MiniGrid: right, down, left, up


def lava_ahead_from_grid(obs: torch.Tensor) -> torch.Tensor:
    """uint8 symbolic obs [B, 9, 9, 3] (indexed [x, y, c]) → bool [B]: lava ahead."""
    obs = torch.as_tensor(obs).long()
    B, W, H, _ = obs.shape
    flat = (obs[..., 0] == AGENT).reshape(B, -1).float().argmax(dim=1)
    ax, ay = flat // H, flat % H
    direction = obs[torch.arange(B), ax, ay, 2]
    fx, fy = ax + DIR_TO_VEC[direction, 0], ay + DIR_TO_VEC[direction, 1]
    return obs[torch.arange(B), fx.clamp(0, W - 1), fy.clamp(0, H - 1), 0] == LAVA


class OracleEncoder(nn.Module):
    """Maps lava-ahead states to the origin and every other state 100 units away."""

    latent_dim = 50

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = torch.zeros(len(obs), self.latent_dim)
        z[:, 0] = 100.0 * (~lava_ahead_from_grid(obs)).float()
        return z


class OracleQ(nn.Module):
    """Q_p that scores forward-into-lava −1 and everything else 0."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        q = torch.zeros(len(obs), NUM_ACTIONS)
        q[:, FORWARD] = -1.0 * lava_ahead_from_grid(obs).float()
        return q

"""Lean connector pipelines for sampling: one piece each way instead of RLlib's default six.

PaperDQN's module takes the environment's raw uint8 observations and returns discrete
actions, so what RLlib's default pipelines do per step — add a time rank and states,
map agents to modules, batch items one by one, normalise and clip actions, listify for
the vector env — changes nothing here and cost about a tenth of a symbolic trial's
sampling time. These two pieces produce what the EnvRunner needs from the same inputs:

- `LatestObservations` (env → module): the latest observation of each ongoing episode,
  stacked, as ``{"obs": tensor [B, ...]}`` on the module's device.
- `OutputsToNumpy` (module → env): every tensor the module returned, as numpy arrays
  [B, ...]; the EnvRunner sends ``actions`` to the vector env and stores each env's row
  of the others in its episode (`SingleAgentEnvRunner._sample`).

Both are set in `PaperDQNConfig` through RLlib's public config
(``env_runners(env_to_module_connector=..., add_default_connectors_to_...=False)``).
Single-agent, stateless modules with Discrete actions only (what PaperDQN supports).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override


class LatestObservations(ConnectorV2):
    """Env-to-module: ``batch["obs"]`` = the episodes' latest observations [B, ...]."""

    def __init__(self, *args: Any, device: torch.device | str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.device = torch.device(device or "cpu")

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict, episodes: list, **kwargs: Any) -> dict:
        """Contract: `episodes` are the EnvRunner's ongoing single-agent episodes, each
        reset; returns `batch` with ``Columns.OBS`` [len(episodes), ...] (their dtype)."""
        obs = np.stack([episode.get_observations(-1) for episode in episodes])
        batch[Columns.OBS] = torch.from_numpy(obs).to(self.device)
        return batch


class OutputsToNumpy(ConnectorV2):
    """Module-to-env: every tensor of the module's output as a numpy array [B, ...]."""

    @override(ConnectorV2)
    def __call__(self, *, rl_module, batch: dict, episodes: list, **kwargs: Any) -> dict:
        """Contract: `batch` holds ``Columns.ACTIONS`` [B] (Discrete actions, ready for
        the env); returns the same keys as numpy arrays."""
        return {key: value.cpu().numpy() if torch.is_tensor(value) else value for key, value in batch.items()}


def env_to_module(env=None, spaces=None, device=None) -> ConnectorV2:
    """RLlib's ``env_to_module_connector`` factory signature (env, spaces, device)."""
    return LatestObservations(device=device)


def module_to_env(env=None, spaces=None) -> ConnectorV2:
    """RLlib's ``module_to_env_connector`` factory signature (env, spaces)."""
    return OutputsToNumpy()

"""The RLlib side: PaperDQN and ShieldedDQN (configs, RLModules, callbacks, replay), the
configuration of one study trial, pretraining jobs and environment registration.

The names below are imported on first use, so that the Ray-free modules of this package
(`rllib_algos.pretrain_budgets`) can be imported without Ray. Importing
`rllib_algos.shielded_dqn` (as these names do) registers the crossing environments with
RLlib by their MiniGrid ids (see `rllib_algos.envs`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PaperDQN": "rllib_algos.paper_dqn",
    "PaperDQNConfig": "rllib_algos.paper_dqn",
    "epsilon_schedule": "rllib_algos.paper_dqn",
    "for_env_steps": "rllib_algos.paper_dqn",
    "ShieldedDQN": "rllib_algos.shielded_dqn",
    "ShieldedDQNConfig": "rllib_algos.shielded_dqn",
    "register_envs": "rllib_algos.envs",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rllib_algos' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

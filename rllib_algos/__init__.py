"""The RLlib side: PaperDQN and ShieldedDQN (configs, RLModules, callbacks, replay), pretraining
jobs and environment registration.

Importing this package registers the crossing environments with RLlib by their MiniGrid
ids (see `rllib_algos.envs`).
"""

from rllib_algos.envs import register_envs
from rllib_algos.paper_dqn import PaperDQN, PaperDQNConfig, epsilon_schedule, for_budget
from rllib_algos.shielded_dqn import ShieldedDQN, ShieldedDQNConfig

__all__ = [
    "PaperDQN",
    "PaperDQNConfig",
    "ShieldedDQN",
    "ShieldedDQNConfig",
    "epsilon_schedule",
    "for_budget",
    "register_envs",
]

"""The RLlib side: ShieldedDQN (config, RLModule, callbacks) and environment registration.

Importing this package registers the crossing environments with RLlib by their MiniGrid
ids (see `rllib_algos.envs`).
"""

from rllib_algos.envs import register_envs
from rllib_algos.shielded_dqn import ShieldedDQN, ShieldedDQNConfig, epsilon_schedule

__all__ = ["ShieldedDQN", "ShieldedDQNConfig", "epsilon_schedule", "register_envs"]

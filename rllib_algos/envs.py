"""Registers the crossing environments of `shield.envs` with RLlib under their MiniGrid ids.

``config.environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "pixels",
"layout_seed": 123})`` then builds `shield.envs.make_env(env_id, obs=..., layout_seed=...)`.
"""

from __future__ import annotations

from ray.tune.registry import register_env

from shield.envs import ENV_IDS, make_env

ENV_CONFIG_KEYS = ("obs", "layout_seed")


def _creator(env_id: str):
    def create(env_config: dict):
        return make_env(env_id, **{key: env_config[key] for key in ENV_CONFIG_KEYS if key in env_config})

    return create


def register_envs() -> None:
    """Register every id in `shield.envs.ENV_IDS` (idempotent; call in every driver)."""
    for env_id in ENV_IDS:
        register_env(env_id, _creator(env_id))

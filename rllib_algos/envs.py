"""Registers the crossing environments of `shield.envs` with RLlib under their MiniGrid ids.

``config.environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "pixels",
"layout_seed": 123, "lava_look": "blue"})`` then builds `shield.envs.make_env(env_id,
obs=..., layout_seed=..., lava_look=...)` (each key optional but ``obs``).
"""

from __future__ import annotations

from ray.tune.registry import register_env

from shield.envs import ENV_IDS, make_env
from shield.pseudo_reward_env import PseudoRewardEnv
from shield.weights import load_frozen

ENV_CONFIG_KEYS = ("obs", "layout_seed", "lava_look")
PSEUDO_REWARD_ENV = "shieldsweep-pseudo-reward"


def _creator(env_id: str):
    def create(env_config: dict):
        return make_env(env_id, **{key: env_config[key] for key in ENV_CONFIG_KEYS if key in env_config})

    return create


def pseudo_reward_env(env_config: dict) -> PseudoRewardEnv:
    """Q_p's training env; env_config: obs, env_ids, source_paths, lava_bootstrap, layout_seed (optional)."""
    obs = env_config["obs"]
    sources = [load_frozen(path, "source_q", obs) for path in env_config["source_paths"]]
    return PseudoRewardEnv(
        env_config["env_ids"],
        obs,
        sources,
        lava_bootstrap=env_config["lava_bootstrap"],
        layout_seed=env_config.get("layout_seed"),
    )


def register_envs() -> None:
    """Register every id in `shield.envs.ENV_IDS` and `PSEUDO_REWARD_ENV` (idempotent)."""
    for env_id in ENV_IDS:
        register_env(env_id, _creator(env_id))
    register_env(PSEUDO_REWARD_ENV, pseudo_reward_env)

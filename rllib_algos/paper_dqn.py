"""RLlib's own DQN with the paper's settings and network, without the shield.

Used for the source-task DQNs and Q_p in pretraining, and as the stock baseline in the
throughput benchmark. Settings are copied from `ShieldedDQNConfig`, so the two never drift.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_algos.rl_module import PaperDQNModule
from rllib_algos.shielded_dqn import ShieldedDQNConfig, epsilon_schedule
from shield.networks import QNetwork

SHARED_SETTINGS = (
    "lr",
    "gamma",
    "train_batch_size_per_learner",
    "replay_buffer_config",
    "target_network_update_freq",
    "num_steps_sampled_before_learning_starts",
    "training_intensity",
    "epsilon",
    "double_q",
    "dueling",
    "n_step",
    "num_env_runners",
    "num_envs_per_env_runner",
    "rollout_fragment_length",
)


def paper_dqn_config() -> DQNConfig:
    """A stock `DQNConfig` with `ShieldedDQNConfig`'s defaults and `PaperDQNModule`."""
    paper = ShieldedDQNConfig()
    config = DQNConfig().rl_module(rl_module_spec=RLModuleSpec(module_class=PaperDQNModule))
    for name in SHARED_SETTINGS:
        setattr(config, name, getattr(paper, name))
    return config


def for_budget(config: DQNConfig, env_steps: int) -> DQNConfig:
    """Scale ε (90% of training) and the learning start (≤ 10,000, ≤ 20%) to `env_steps`."""
    return config.training(
        epsilon=epsilon_schedule(env_steps),
        num_steps_sampled_before_learning_starts=min(10_000, env_steps // 5),
    )


def train_q_network(
    config: DQNConfig,
    env_steps: int,
    obs_kind: str,
    progress: Callable[[int, dict], None] | None = None,
) -> tuple[QNetwork, dict]:
    """Train `config` for at least `env_steps` environment steps; return its Q-network.

    Returns:
        (QNetwork in eval mode, {"env_steps", "train_s", "return_mean"}).
    """
    algo = config.build_algo()
    start = time.perf_counter()
    try:
        steps, result = 0, {}
        while steps < env_steps:
            result = algo.train()
            steps = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
            if progress is not None:
                progress(steps, result)
        module = algo.get_module()
        q = QNetwork(obs_kind, int(module.action_space.n))
        q.torso.load_state_dict(module.encoder.state_dict())
        q.head.load_state_dict(module.af.state_dict())
    finally:
        algo.stop()
    q.eval().requires_grad_(False)
    return q, {
        "env_steps": steps,
        "train_s": time.perf_counter() - start,
        "return_mean": float(result.get("env_runners", {}).get("episode_return_mean", float("nan"))),
    }

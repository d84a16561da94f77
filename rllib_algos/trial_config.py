"""The RLlib configuration of one study trial: ShieldedDQN with a length and a setting."""

from __future__ import annotations

from dataclasses import dataclass

from rllib_algos.paper_dqn import for_env_steps
from rllib_algos.shielded_dqn import ShieldedDQNConfig
from shield.envs import DEFAULT_LAVA_LOOK
from shield.settings import ShieldParams
from shield.weights import WeightFiles


def env_config(obs: str, lava_look: str = DEFAULT_LAVA_LOOK) -> dict:
    """A trial's env_config (`rllib_algos.envs`): the default look adds no key, so that the
    configs, and the runs resumed from them, stay those of before looks."""
    return {"obs": obs} | ({} if lava_look == DEFAULT_LAVA_LOOK else {"lava_look": lava_look})


@dataclass(frozen=True)
class TrialLength:
    """How long a trial trains and how it is evaluated.

    env_steps: environment steps per trial; iterations: train() calls per trial (results
    and checkpoints come per iteration); eval_episodes: greedy episodes at the end, shield
    off (return_eval).
    """

    env_steps: int
    iterations: int
    eval_episodes: int


def trial_config(
    env: str,
    obs: str,
    agent: str,
    length: TrialLength,
    setting: ShieldParams,
    weights: WeightFiles,
    gpus_per_trial: float = 0.0,
    lava_look: str = DEFAULT_LAVA_LOOK,
) -> ShieldedDQNConfig:
    """The ShieldedDQNConfig of one setting (its seed and layout are filled in per trial).

    Args:
        env: MiniGrid env id; obs: "symbolic" or "pixels"; agent: agent preset name.
        length: steps, iterations and evaluation episodes.
        setting: the shield's settings (its mode among them).
        weights: the study's frozen networks; a trial keeps only the files its mode uses,
            so that trials that computed the same thing have the same configuration.
        lava_look: how lava is drawn (pixels; `shield.envs.LAVA_LOOKS`).
        gpus_per_trial: the share of one GPU (0 to 1) the trial's Learner trains on; 0
            trains on CPU.

    GPU placement (RLlib 2.60): the trial's one Learner is the local Learner inside its
    Algorithm actor (``num_learners=0``). RLlib adds ``GPU: gpus_per_trial`` (fractions
    allowed) to that actor's bundle, which Tune reserves for the trial
    (``ray/rllib/algorithms/utils.py``: `_get_main_process_bundle`; its CPUs stay
    ``num_cpus_for_main_process``), and the Learner moves its module to the GPU Ray
    assigned to the actor (``TorchLearner.build`` → `ray.rllib.utils.framework.get_device`).
    Acting stays on CPU: with ``num_env_runners=0`` sampling and evaluation run in the
    local EnvRunner, which RLlib builds on CPU whatever the config says
    (``SingleAgentEnvRunner.__init__`` asks `get_device` for 0 GPUs at worker_index 0;
    ``num_gpus_per_env_runner`` applies to remote EnvRunners only).
    """
    used = weights.used_by(setting)
    steps_per_iteration = -(-length.env_steps // length.iterations)
    return (
        for_env_steps(ShieldedDQNConfig().agent(agent), length.env_steps)
        .environment(env, env_config=env_config(obs, lava_look))
        .shield(setting, weights=used)
        .learners(num_learners=0, num_gpus_per_learner=gpus_per_trial)
        .reporting(min_sample_timesteps_per_iteration=steps_per_iteration)
        .evaluation(
            evaluation_interval=length.iterations,
            evaluation_duration=length.eval_episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=0,
            evaluation_config={"explore": False, "num_envs_per_env_runner": 1},
        )
    )

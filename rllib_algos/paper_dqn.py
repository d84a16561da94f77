"""PaperDQN: RLlib's DQN with the paper's settings, network and a low-overhead replay.

Defaults are the paper's DQN settings: double Q, prioritised replay (α 0.5,
β 0.4 → 1.0 over training), no dueling heads, the paper's network (`PaperDQNModule`),
Adam 2.5e-4, replay 10,000, batch 128, γ 0.99, target copy every 500 steps, learning from
10,000 steps, one update per 10 env steps, ε linear 1.0 → 0.05 over 90% of training
(`for_env_steps` scales ε, β and the learning start to a run's length; the defaults are for
200K steps). Sampling: no remote EnvRunners, 8 vector envs, fragments of 10 steps (the
fastest on 2 cores), one connector piece each way (`rllib_algos.connectors`).

`PaperDQN.training_step` is DQN's, with one change: transitions go into a
`TransitionReplay` (flat uint8 arrays, prioritised) and train batches go to the Learner
as arrays, instead of through RLlib's episode replay buffer and learner connector,
which cost more than the update itself on these networks; each batch is one
`rllib_algos.learner_step.dqn_update` on the local Learner, skipping
`LearnerGroup.update`'s per-update bookkeeping. RLlib builds no replay buffer of its own
(``replay_buffer_config`` names the `TransitionReplay` and sets ``no_local_replay_buffer``).
One local Learner and the local EnvRunner only (``num_learners=0``,
``num_env_runners=0``: the fastest on 2 cores; a GPU comes through
``num_gpus_per_learner``); `PaperDQNConfig.validate` refuses the rest. Single-agent. n-step
returns (`n_step`, an integer) are computed across a sampled episode's chunks by
`rllib_algos.replay.NStepReturns`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights
from ray.rllib.algorithms.dqn.dqn_learner import QF_LOSS_KEY
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rllib_algos import connectors, resume
from rllib_algos.envs import register_envs
from rllib_algos.learner_step import copy_weights, dqn_update
from rllib_algos.replay import NStepReturns, TransitionReplay
from rllib_algos.rl_module import PaperDQNModule
from shield.agents import PAPER_AGENT, PAPER_ENV_STEPS, agent_preset

# What ``replay_buffer_config["type"]`` says: the replay PaperDQN builds (from the config's
# capacity and alpha) and samples from; RLlib builds none (``no_local_replay_buffer``). The
# bare class name: RLlib's config dict round trip (`update_from_dict`, how Tune hands a
# trial its config) imports a dotted path and its DQN then refuses the class.
TRANSITION_REPLAY = TransitionReplay.__name__
_REPLAY_KEYS = {"type", "no_local_replay_buffer", "capacity", "alpha"}


def epsilon_schedule(total_env_steps: int) -> list[tuple[int, float]]:
    """ε linear from 1.0 to 0.05 over 90% of training (the paper's schedule)."""
    return [(0, 1.0), (int(0.9 * total_env_steps), 0.05)]


def linear(schedule: list[tuple[int, float]], t: float) -> float:
    """Piecewise-linear value of `schedule` [(t0, v0), (t1, v1), ...] at t."""
    ts, vs = zip(*schedule, strict=True)
    return float(np.interp(t, ts, vs))


class PaperDQNConfig(DQNConfig):
    """DQNConfig with the paper's defaults (see module docstring).

    Its own fields, beside DQNConfig's:

    - ``replay_buffer_config``: ``capacity`` and ``alpha`` of the `TransitionReplay`
      PaperDQN samples from (``type`` names it; RLlib builds no buffer of its own, as
      ``no_local_replay_buffer`` tells it); set with
      ``.training(replay_buffer_config={"capacity": ..., "alpha": ...})``;
    - ``replay_beta``: the prioritised-replay β schedule [(env_steps, β), ...], piecewise
      linear (RLlib's replay takes one fixed β); set with ``.training(replay_beta=...)``;
    - ``agent_preset``: the name of the agent preset applied (``.agent(name)``).
    """

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or PaperDQN)
        self.lr = 2.5e-4
        self.gamma = 0.99
        self.train_batch_size_per_learner = 128
        self.replay_buffer_config = {
            "type": TRANSITION_REPLAY,
            "no_local_replay_buffer": True,
            "capacity": 10_000,
            "alpha": 0.5,
        }
        self.replay_beta = [(0, 0.4), (PAPER_ENV_STEPS, 1.0)]
        self.target_network_update_freq = 500
        self.num_steps_sampled_before_learning_starts = 10_000
        self.training_intensity = 12.8  # 128 trained per 10 sampled steps
        self.epsilon = epsilon_schedule(PAPER_ENV_STEPS)
        self.double_q = True
        self.dueling = False
        self.n_step = 1
        self.num_env_runners = 0
        self.num_envs_per_env_runner = 8
        self.rollout_fragment_length = 10
        # One connector piece each way (`rllib_algos.connectors`): RLlib's default
        # pipelines do nothing for this module's raw observations and Discrete actions.
        self.env_runners(
            env_to_module_connector=connectors.env_to_module,
            module_to_env_connector=connectors.module_to_env,
            add_default_connectors_to_env_to_module_pipeline=False,
            add_default_connectors_to_module_to_env_pipeline=False,
        )
        self.agent_preset = PAPER_AGENT

    def agent(self, preset: str) -> PaperDQNConfig:
        """Apply the agent preset `preset` (`shield.agents.AGENT_PRESETS`) and record
        its name in the config (``agent_preset``), hence in every trial's params and row."""
        settings = agent_preset(preset)
        self.agent_preset = settings.name
        self.n_step = settings.n_step
        return self

    @override(DQNConfig)
    def training(self, *, replay_beta: list[tuple[int, float]] = NotProvided, **kwargs: Any) -> PaperDQNConfig:
        """DQNConfig's training settings, plus ``replay_beta`` (see the class docstring)."""
        super().training(**kwargs)
        if replay_beta is not NotProvided:
            self.replay_beta = [(int(t), float(beta)) for t, beta in replay_beta]
        return self

    @override(DQNConfig)
    def update_from_dict(self, config_dict: dict[str, Any]) -> PaperDQNConfig:
        """RLlib's update; a replay config naming RLlib's own buffer (as configs of runs
        stored by earlier shieldsweep versions do) is read as this replay's capacity and
        alpha, so those runs still resume and their checkpoints still load."""
        replay = config_dict.get("replay_buffer_config")
        if isinstance(replay, dict) and "PrioritizedEpisodeReplayBuffer" in str(replay.get("type")):
            kept = {key: replay[key] for key in ("capacity", "alpha") if key in replay}
            config_dict = dict(config_dict) | {"replay_buffer_config": self.replay_buffer_config | kept}
        return super().update_from_dict(config_dict)

    @override(DQNConfig)
    def validate(self) -> None:
        """What PaperDQN supports, then RLlib's checks.

        Refused (ValueError): an unknown agent preset; `n_step` that is not an integer ≥ 1
        (no sampled ranges); dueling heads or a distributional head (the paper's network
        has neither); Learners or EnvRunners other than the local ones (``num_learners``,
        ``num_env_runners`` other than 0; evaluation EnvRunners are RLlib's and may be
        remote); a replay buffer config other than the `TransitionReplay`'s capacity and
        alpha (RLlib would build a buffer nothing reads); a `replay_beta` that is not
        [(env_steps, β), ...] with increasing steps and β in [0, 1].
        """
        agent_preset(self.agent_preset)
        if isinstance(self.n_step, bool) or not isinstance(self.n_step, int) or self.n_step < 1:
            raise ValueError(f"n_step must be an integer >= 1 (PaperDQN does not sample ranges), got {self.n_step!r}")
        if self.dueling or self.num_atoms != 1:
            raise ValueError("PaperDQN's network has no dueling or distributional head: set dueling=False, num_atoms=1")
        if self.num_learners != 0:
            raise ValueError(
                f"PaperDQN trains on the local Learner only: set learners(num_learners=0), got {self.num_learners} "
                "(a GPU: learners(num_gpus_per_learner=...))"
            )
        if self.num_env_runners != 0 and not self.in_evaluation:
            raise ValueError(
                f"PaperDQN samples in the local EnvRunner only: set env_runners(num_env_runners=0), got "
                f"{self.num_env_runners} (more environments: env_runners(num_envs_per_env_runner=...))"
            )
        replay = self.replay_buffer_config or {}
        if (
            replay.get("type") != TRANSITION_REPLAY
            or replay.get("no_local_replay_buffer") is not True
            or set(replay) != _REPLAY_KEYS
        ):
            raise ValueError(
                "PaperDQN samples from its own TransitionReplay and RLlib builds no buffer: set only its capacity "
                "and alpha, .training(replay_buffer_config={'capacity': ..., 'alpha': ...}), and beta through "
                f"replay_beta; got replay_buffer_config={replay!r}"
            )
        steps = [t for t, _ in self.replay_beta] if self.replay_beta else []
        if not steps or steps != sorted(steps) or not all(0.0 <= b <= 1.0 for _, b in self.replay_beta):
            raise ValueError(
                f"replay_beta must be [(env_steps, beta), ...], steps increasing, beta in [0, 1]: "
                f"got {self.replay_beta!r}"
            )
        super().validate()

    @override(DQNConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        """`PaperDQNModule`: RLlib's DQN module with the paper's Q-network."""
        return RLModuleSpec(module_class=PaperDQNModule)


def for_env_steps(config: PaperDQNConfig, env_steps: int) -> PaperDQNConfig:
    """Scale ε (90% of training), β (0.4 → 1.0 over training) and the learning start
    (≤ 10,000 steps, ≤ 20% of training) to a run of `env_steps`."""
    return config.training(
        epsilon=epsilon_schedule(env_steps),
        num_steps_sampled_before_learning_starts=min(10_000, env_steps // 5),
        replay_beta=[(0, 0.4), (env_steps, 1.0)],
    )


def chunk_arrays(chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(observations [T + 1, ...], actions [T], rewards [T]) of an RLlib episode chunk."""
    if len(chunk) == 0:
        return None
    return (
        np.asarray(chunk.get_observations()),
        np.asarray(chunk.get_actions()),
        np.asarray(chunk.get_rewards(), dtype=np.float32),
    )


class PaperDQN(DQN):
    """RLlib's DQN whose replay is a `TransitionReplay` (see module docstring)."""

    @classmethod
    @override(DQN)
    def get_default_config(cls) -> PaperDQNConfig:
        """The paper's DQN settings (`PaperDQNConfig`), which Tune and `from_checkpoint` start from."""
        return PaperDQNConfig()

    @override(DQN)
    def setup(self, config: Any) -> None:
        """DQN's setup, then the transition replay and the n-step assembler."""
        super().setup(config)
        space = self.config.observation_space or self.env_runner.env.single_observation_space
        self.transitions = TransitionReplay(
            self.config.replay_buffer_config["capacity"],
            space.shape,
            space.dtype,
            alpha=self.config.replay_buffer_config["alpha"],
        )
        self._replay_rng = np.random.default_rng(self.config.seed)
        self.n_step_returns = NStepReturns(self.config.n_step, self.config.gamma)

    @override(DQN)
    def save_to_path(self, path=None, *, state=None, filesystem=None, use_msgpack: bool = False) -> str:
        """RLlib's checkpoint, plus what it leaves out (`rllib_algos.resume`): the replay,
        the n-step tails, the sampling EnvRunner's environments and episodes, the shield's
        buffer and the RNGs, in ``<path>/resume/``. Tune's checkpoints come through here."""
        path = super().save_to_path(path, state=state, filesystem=filesystem, use_msgpack=use_msgpack)
        if filesystem is None and state is None:
            resume.write(Path(path), self)
        return path

    @override(DQN)
    def restore_from_path(self, path, *args, component: str | None = None, **kwargs) -> None:
        """RLlib's restore, then the resume state `save_to_path` wrote (when restoring the
        whole algorithm from a local checkpoint that has one).

        Raises:
            rllib_algos.resume.CorruptCheckpointError: the resume files are unreadable.
        """
        super().restore_from_path(path, *args, component=component, **kwargs)
        if component is None and kwargs.get("filesystem") is None:
            resume.read(Path(path), self)

    @override(DQN)
    def training_step(self) -> None:
        """Sample, add the chunks' n-step transitions to the replay, and (once learning has
        started) train on prioritised batches as often as ``training_intensity`` asks;
        then copy the weights to the sampling EnvRunner. Metrics as DQN's."""
        store_weight, sample_and_train_weight = calculate_rr_weights(self.config)
        for _ in range(store_weight):
            episodes, env_runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                concat=True,
                sample_timeout_s=self.config.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
            self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
            for chunk in episodes:
                arrays = chunk_arrays(chunk)
                if arrays is None:
                    continue
                transitions = self.n_step_returns.add(chunk.id_, *arrays, chunk.is_terminated, chunk.is_done)
                if transitions is not None:
                    self.transitions.add(*transitions)

        env_steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if env_steps < self.config.num_steps_sampled_before_learning_starts or len(self.transitions) == 0:
            return
        beta = linear(self.config.replay_beta, env_steps)
        for _ in range(sample_and_train_weight):
            idx, arrays = self.transitions.sample(self.config.total_train_batch_size, beta, self._replay_rng)
            (done,) = self.learner_group.foreach_learner(dqn_update, batch=arrays, env_steps=env_steps)
            td_error, loss = done.get()
            self.transitions.update_priorities(idx, td_error)
            self.metrics.log_value((LEARNER_RESULTS, DEFAULT_MODULE_ID, QF_LOSS_KEY), loss, window=100)
        # The sampling EnvRunner and the Learner share this process (validate): copy tensors.
        self.learner_group.foreach_learner(copy_weights, module=self.env_runner.module)


def _not_the_new_api_stack_notice(record: logging.LogRecord) -> bool:
    """False for RLlib's "You are running <algorithm> on the new API stack! This is the new
    default behavior ..." warning (`AlgorithmConfig.validate`), True for every other record."""
    return "on the new API stack! This is the new default behavior" not in record.getMessage()


# Algorithms built from this module find the crossing environments by their MiniGrid ids,
# in the driver and in every worker process that unpickles them.
register_envs()
# RLlib warns "You are running ShieldedDQN on the new API stack!" at every algorithm's
# setup (once per process, so once per trial). It is informational and always true here:
# PaperDQN runs on the new API stack only. Drop that one record (from the same processes
# as above); every other RLlib message passes.
logging.getLogger(AlgorithmConfig.__module__).addFilter(_not_the_new_api_stack_notice)

"""Real RLlib training runs on real MiniGrid (no mocks): the shield's acceptance tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from rllib_algos import ShieldedDQNConfig, register_envs
from rllib_algos.rl_module import ShieldedDQNModule
from shield.envs import make_env, on_lava
from tests.oracle import OracleEncoder, OracleQ

pytestmark = pytest.mark.slow
ENV = "MiniGrid-LavaCrossingS9N1-v0"


class EnvSideLog(gym.Wrapper):
    """Counts lava deaths from the grid itself and stamps the executed action into the
    next observation (the colour channel of the corner wall, which the networks ignore)."""

    deaths = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated and on_lava(self.env):
            EnvSideLog.deaths += 1
        obs = obs.copy()
        obs[0, 0, 1] = int(action)
        return obs, reward, terminated, truncated, info


class OracleShieldModule(ShieldedDQNModule):
    """ShieldedDQN's module with hand-built f_θ and Q_p that encode the ground truth."""

    def frozen_networks(self, encoder_path, prior_q_path):
        return OracleEncoder(), OracleQ()


@pytest.fixture
def logged_env():
    EnvSideLog.deaths = 0
    register_env(ENV, lambda cfg: EnvSideLog(make_env(ENV, obs=cfg["obs"], layout_seed=cfg.get("layout_seed"))))
    yield EnvSideLog
    register_envs()


def run(config: ShieldedDQNConfig, iterations: int) -> tuple[dict, object]:
    algo = config.build_algo()
    try:
        for _ in range(iterations):
            result = algo.train()
        return result["env_runners"]["shield"], algo.transitions
    finally:
        algo.stop()


def base_config(weight_files, **shield) -> ShieldedDQNConfig:
    return (
        ShieldedDQNConfig()
        .environment(ENV, env_config={"obs": "symbolic", "layout_seed": 123})
        .env_runners(num_envs_per_env_runner=1, rollout_fragment_length=10)
        .training(num_steps_sampled_before_learning_starts=500, training_intensity=12.8)
        .reporting(min_sample_timesteps_per_iteration=800)
        .debugging(seed=0)
        .shield(**(weight_files | shield))
    )


def test_oracle_shield_stops_violations_once_buffer_holds_four(ray_local, weight_files, logged_env):
    """Acceptance: executed == stored actions; violations_total == env-side deaths; with a
    ground-truth f_θ and Q_p and rho = 1, no violation after the 4th embedding is stored."""
    config = base_config(weight_files, mode="shield", rho=1.0).rl_module(
        rl_module_spec=RLModuleSpec(module_class=OracleShieldModule)
    )
    metrics, replay = run(config, iterations=4)

    stored = len(replay)
    assert stored >= 3000
    executed = replay.next_obs[:stored, 0, 0, 1]  # stamped by the environment
    assert (replay.actions[:stored] == executed).all()
    assert metrics["interventions_total"] > 0
    assert metrics["violations_total"] == logged_env.deaths == 4
    assert metrics["state_precision"] == 1.0 and metrics["action_precision"] == 1.0


def test_dqn_violations_total_counts_every_lava_death(ray_local, weight_files, logged_env):
    metrics, _ = run(base_config(weight_files, mode="dqn"), iterations=4)
    assert metrics["violations_total"] == logged_env.deaths
    assert logged_env.deaths > 4  # the run in which the oracle shield allows only 4
    assert metrics["interventions_total"] == 0 and metrics["steps"] >= 3200


def test_priors_and_shield_run_with_weight_files_and_stay_out_of_checkpoints(ray_local, weight_files, tmp_path):
    config = base_config(weight_files, mode="priors", rho=1.0).reporting(min_sample_timesteps_per_iteration=200)
    algo = config.build_algo()
    try:
        metrics = algo.train()["env_runners"]["shield"]
        assert metrics["state_flag_rate"] == 1.0 and metrics["interventions_total"] > 0
        state_keys = set(algo.get_module().state_dict())
        assert state_keys and not any("prior_q" in k or "frozen" in k or "unsafe" in k for k in state_keys)
        algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()


def test_return_final_stays_defined_through_iterations_that_end_no_episode(ray_local, weight_files):
    """return_final is the mean of the last finished episodes, whatever iteration they ended in."""
    config = (
        base_config(weight_files, mode="dqn")
        .env_runners(num_envs_per_env_runner=1, rollout_fragment_length=1)
        .reporting(min_sample_timesteps_per_iteration=1)
    )
    algo = config.build_algo()
    try:
        episodes, checked = 0, 0
        for _ in range(3000):  # one env step per iteration; episodes end within 324 steps
            metrics = algo.train()["env_runners"]["shield"]
            ended = metrics.get("episodes", 0) - episodes
            if episodes and not ended:  # an iteration after the first episode, ending none
                assert np.isfinite(metrics["return_final"])
                checked += 1
            episodes += ended
            if checked >= 5:
                break
    finally:
        algo.stop()
    assert checked >= 5

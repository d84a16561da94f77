"""Real RLlib training runs on real MiniGrid (no mocks): the shield's acceptance tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from rllib_algos import ShieldedDQNConfig, register_envs
from rllib_algos.metrics import VISITS, visit_cell
from rllib_algos.resume import RESUME_DIR
from rllib_algos.rl_module import ShieldedDQNModule
from shield.envs import NUM_ACTIONS, make_env, on_lava
from shield.networks import QNetwork
from shield.oracle import OracleEncoder, OracleQ
from shield.shield import Shield

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

    def make_shield(self) -> Shield:
        return Shield(self.model_config["shield"], OracleEncoder(), OracleQ())


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
    ground-truth f_θ and Q_p and rho = 1, no violation after the 4th embedding is stored
    (the paper's rules: the oracle maps every lava-ahead state to one point, which a
    distinct buffer would store once)."""
    config = base_config(weight_files, mode="shield", rho=1.0, buffer_rule="ring", d_max_rule="fixed").rl_module(
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
    # every step counted in the cell it was taken from: floor cells only (never lava or walls)
    visits = {visit_cell(key): n for key, n in metrics[VISITS].items()}
    assert sum(visits.values()) == metrics["steps"]
    env = make_env(ENV, layout_seed=123)
    env.reset()  # through the fixed-layout wrapper: layout 123
    base = env.unwrapped
    assert all(base.grid.get(x, y) is None for x, y in visits)
    assert visits[tuple(base.agent_pos)] >= metrics["episodes"]  # each episode starts there


def checkpoint_arrays(checkpoint: Path) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of every tensor or array pickled anywhere in an RLlib checkpoint, sorted."""
    found = []

    def walk(obj, key):
        if isinstance(obj, torch.Tensor | np.ndarray):
            found.append((key, tuple(obj.shape)))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, str(k))
        elif isinstance(obj, list | tuple):
            for v in obj:
                walk(v, key)

    for path in checkpoint.rglob("*.pkl"):
        if RESUME_DIR in path.relative_to(checkpoint).parts:  # not RLlib's (see resume_modules)
            continue
        with path.open("rb") as f:
            walk(pickle.load(f), "")
    return sorted(found)


def resume_modules(checkpoint: Path) -> list[str]:
    """Type names of the torch modules pickled in a checkpoint's resume state."""
    found = []

    def walk(obj, depth=0):
        if isinstance(obj, torch.nn.Module):
            found.append(type(obj).__name__)
        elif depth < 6 and isinstance(obj, dict):
            for v in obj.values():
                walk(v, depth + 1)
        elif depth < 6 and isinstance(obj, list | tuple):
            for v in obj:
                walk(v, depth + 1)

    walk(pickle.loads((checkpoint / RESUME_DIR / "state.pkl").read_bytes()))
    return found


@pytest.mark.parametrize("mode", ["priors", "state_only", "shield"])
def test_shield_modes_run_with_weight_files_and_stay_out_of_checkpoints(ray_local, weight_files, tmp_path, mode):
    """Every mode acts with its frozen networks (loaded from the weight files), yet the
    module's state and RLlib's checkpoint hold the Q-network (online and target) and nothing
    else, and the resume state holds the shield's buffer but no network."""
    config = base_config(weight_files, mode=mode, rho=1.0).reporting(min_sample_timesteps_per_iteration=20)
    algo = config.build_algo()
    try:
        history = [dict(algo.train()["env_runners"]["shield"]) for _ in range(10)]  # counters: lifetime sums
        module_state = {key: tuple(value.shape) for key, value in algo.get_module().state_dict().items()}
        algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()

    metrics = history[-1]
    assert metrics["steps"] >= 200
    if mode == "priors":  # rho = 1: Q_p checks the action in every state
        assert metrics["state_flag_rate"] == 1.0 and metrics["interventions_total"] > 0
    else:  # the state check needs more than 3 stored unsafe embeddings, one per lava death
        before_fourth_death = [m for m in history if m["violations_total"] <= 3]
        assert before_fourth_death, "the run reached 4 lava deaths in its first iteration"
        assert all(m["flagged"] == 0 and m["interventions_total"] == 0 for m in before_fourth_death)
    if mode == "state_only":  # every flagged state's proposal replaced, Q_p or not
        assert metrics["interventions_total"] == metrics["flagged"]

    q_network = QNetwork("symbolic", NUM_ACTIONS).state_dict()
    assert sorted(module_state.values()) == sorted(tuple(v.shape) for v in q_network.values())
    assert not any(word in key for key in module_state for word in ("prior_q", "frozen", "unsafe", "shield"))
    online_and_target = [*module_state.items(), *((f"_target_{k}", shape) for k, shape in module_state.items())]
    assert checkpoint_arrays(tmp_path / "ckpt") == sorted(online_and_target)
    # the resume state holds the shield's buffer (rows, not networks) beside RLlib's files
    shield_state = pickle.loads((tmp_path / "ckpt" / RESUME_DIR / "state.pkl").read_bytes())["sampling"]["module"]
    assert set(shield_state) == {"rows", "stored", "next", "adaptive", "generator"}
    assert resume_modules(tmp_path / "ckpt") == []


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

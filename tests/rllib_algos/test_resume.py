"""Exact resume: a trial restored from a checkpoint in a new process continues as the
uninterrupted trial does (real ShieldedDQN, real MiniGrid, the committed encoder and Q_p).

Each run is a fresh interpreter running this file (`python test_resume.py ...`), so that
the restore sees nothing of the process that saved. The fast tests check the RLlib and
gymnasium private state that resume carries (`rllib_algos.resume.PRIVATE_*`): that an
upgrade has not renamed, moved or added to it, and that it carries an EnvRunner's sampling.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ITERATIONS_BEFORE_SAVE = 3
# The SyncVectorEnv attributes resume does not carry: set from the config when the env is
# built, or (autoreset at the next step) rewritten for every sub-environment at every step.
VECTOR_ENV_REBUILT = {
    "action_space",
    "autoreset_mode",
    "copy",
    "env_fns",
    "metadata",
    "num_envs",
    "observation_mode",
    "observation_space",
    "render_mode",
    "single_action_space",
    "single_observation_space",
    "spec",
    "_env_obs",
    "_observations",
    "_rewards",
    "_terminations",
    "_truncations",
}


def build():
    """A shield trial at a small budget (learning starts at 500 steps, so the iterations
    after the checkpoint train, target copies and all)."""
    from rllib_algos.pretrain_budgets import encoder_spec, prior_spec
    from rllib_algos.trial_config import TrialLength, trial_config
    from shield.artifacts import ArtifactStore
    from shield.envs import DEFAULT_ENV
    from shield.settings import DEFAULT_SHIELD
    from shield.weights import WeightFiles

    store = ArtifactStore()
    weights = WeightFiles(
        prior_q=str(store.check(prior_spec("symbolic", "quick"))),
        encoders={DEFAULT_SHIELD.margin: str(store.check(encoder_spec("symbolic", "quick")))},
    )
    config = trial_config(DEFAULT_ENV, "symbolic", "nstep3", TrialLength(6000, 6, 1), DEFAULT_SHIELD, weights)
    config = config.environment(env_config={"obs": "symbolic", "layout_seed": 123}).debugging(seed=7)
    return config.training(num_steps_sampled_before_learning_starts=500).build_algo()


def snapshot(algo, result: dict) -> dict:
    """What must agree: the replay (arrays, priorities, position), the unsafe buffer, the
    network weights, the shield's counters of the iteration just run."""
    replay, buffer = algo.transitions, algo.env_runner.module.shield.unsafe_buffer
    learner = next(iter(algo.learner_group.foreach_learner(lambda learner: learner.get_state()))).get()
    n = replay.size
    return {
        "replay": {key: getattr(replay, key)[:n].copy() for key in ("obs", "next_obs", "actions", "rewards")}
        | {"priorities": replay.priorities[:n].copy(), "position": np.array([replay.size, replay.next])},
        "unsafe_rows": buffer.rows.clone().numpy(),
        "unsafe_position": np.array([buffer.stored, buffer.next]),
        "weights": {k: np.array(v) for k, v in learner["rl_module"]["default_policy"].items()},
        "shield_metrics": dict(result["env_runners"]["shield"]),
        "sampled_actions": replay.actions[:n][-algo.config.num_envs_per_env_runner * 10 :].copy(),
    }


def main(mode: str, checkpoint: str, out: str) -> None:
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    algo = build()
    if mode == "straight":
        for _ in range(ITERATIONS_BEFORE_SAVE):
            algo.train()
        algo.save_to_path(checkpoint)
    else:
        algo.restore_from_path(checkpoint)
    result = algo.train()
    Path(out).write_bytes(pickle.dumps(snapshot(algo, result)))
    algo.stop()


def sampler_config():
    """A PaperDQN config for EnvRunners and Learners built in this process (no Ray)."""
    from rllib_algos.paper_dqn import PaperDQNConfig
    from shield.envs import DEFAULT_ENV

    config = PaperDQNConfig().environment(DEFAULT_ENV, env_config={"obs": "symbolic", "layout_seed": 123})
    return config.debugging(seed=0)


def test_the_private_state_resume_carries_is_where_ray_and_gymnasium_keep_it():
    """Fails when an RLlib or gymnasium upgrade renames or moves an attribute that
    `rllib_algos.resume` carries, or gives the vector env state it does not carry."""
    from collections import defaultdict

    from gymnasium.vector import AutoresetMode, SyncVectorEnv
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
    from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

    from rllib_algos.resume import PRIVATE_ENV_RUNNER_STATE, PRIVATE_LEARNER_STATE, PRIVATE_VECTOR_ENV_STATE

    config = sampler_config()
    runner = SingleAgentEnvRunner(config=config)
    runner.sample(num_timesteps=40)
    missing = [name for name in PRIVATE_ENV_RUNNER_STATE if not hasattr(runner, name)]
    assert not missing, f"SingleAgentEnvRunner has no {missing}"
    vector_env = runner.env.unwrapped
    assert type(vector_env) is SyncVectorEnv and vector_env.autoreset_mode == AutoresetMode.NEXT_STEP
    assert set(vars(vector_env)) == set(PRIVATE_VECTOR_ENV_STATE) | VECTOR_ENV_REBUILT

    learner = config.build_learner(env=vector_env, spaces=runner.get_spaces())
    steps = getattr(learner, PRIVATE_LEARNER_STATE)
    assert isinstance(steps, defaultdict) and not steps
    learner.after_gradient_based_update(timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 600})  # copies the target
    assert steps == {DEFAULT_MODULE_ID: 600}, "DQNLearner keeps its last target copy elsewhere"


def test_the_sampling_state_continues_an_env_runner_mid_episode():
    """An EnvRunner given another's `sampling_state` (pickled) samples what that one samples
    next: same episodes, actions and observations, also right after an episode ended at the
    cut (its sub-environment resets at its next step). A fresh one does not."""
    import pickle

    import torch
    from ray import cloudpickle
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from rllib_algos.resume import sampling_state, set_sampling_state

    def next_chunks(runner) -> list:
        torch.manual_seed(5)  # ε-greedy draws from torch's global RNG
        chunks = runner.sample(num_timesteps=80)
        return [(c.id_, c.t_started, np.asarray(c.get_actions()), np.asarray(c.get_observations())) for c in chunks]

    config = sampler_config()
    original, restored, fresh = (SingleAgentEnvRunner(config=config) for _ in range(3))
    original.sample(num_timesteps=120)
    for _ in range(500):  # one step of each sub-environment, until one has to reset next
        if original.env.unwrapped._autoreset_envs.any():
            break
        original.sample(num_timesteps=config.num_envs_per_env_runner)
    assert original.env.unwrapped._autoreset_envs.any()
    set_sampling_state(restored, pickle.loads(cloudpickle.dumps(sampling_state(original))))
    expected = next_chunks(original)
    assert any(t_started > 0 for _, t_started, _, _ in expected)  # episodes continued from before
    for (id_, t_started, actions, obs), got in zip(expected, next_chunks(restored), strict=True):
        assert (id_, t_started) == got[:2]
        np.testing.assert_array_equal(actions, got[2])
        np.testing.assert_array_equal(obs, got[3])
    assert [chunk[0] for chunk in next_chunks(fresh)] != [chunk[0] for chunk in expected]


def run(*args: str) -> None:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def assert_same(a, b, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"  # NaN == NaN here


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A folder with the checkpoint after 3 iterations and the straight run's snapshot."""
    folder = tmp_path_factory.mktemp("resume")
    run("straight", str(folder / "checkpoint"), str(folder / "straight.pkl"))
    return folder


@pytest.mark.slow
def test_a_trial_restored_in_a_new_process_continues_as_the_uninterrupted_one(saved, tmp_path):
    run("restored", str(saved / "checkpoint"), str(tmp_path / "restored.pkl"))
    straight = pickle.loads((saved / "straight.pkl").read_bytes())
    restored = pickle.loads((tmp_path / "restored.pkl").read_bytes())

    # not vacuous: the iteration after the checkpoint sampled, trained, died in lava and
    # stored unsafe embeddings
    metrics = straight["shield_metrics"]
    assert metrics["steps"] > ITERATIONS_BEFORE_SAVE * 1000 and metrics["violations_total"] > 4
    assert straight["unsafe_position"][0] > 3 and (straight["replay"]["priorities"] != 1.0).any()
    assert_same(straight, restored)


@pytest.mark.slow
def test_a_damaged_checkpoint_is_refused_with_its_path(saved, tmp_path):
    """A truncated resume file fails the check with CorruptCheckpointError naming it."""
    import shutil

    from rllib_algos.resume import RESUME_DIR, CorruptCheckpointError, check_checkpoint

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(saved / "checkpoint", checkpoint)
    check_checkpoint(checkpoint)  # intact
    replay = checkpoint / RESUME_DIR / "replay.npz"
    replay.write_bytes(replay.read_bytes()[:1000])
    with pytest.raises(CorruptCheckpointError, match="replay.npz"):
        check_checkpoint(checkpoint)
    shutil.rmtree(checkpoint / "learner_group")
    with pytest.raises(CorruptCheckpointError, match="learner_group"):
        check_checkpoint(checkpoint)


if __name__ == "__main__":
    main(*sys.argv[1:4])

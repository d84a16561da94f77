"""`dqn_update` against RLlib's own `LearnerGroup.update`, on a real PaperDQN Learner."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME, TD_ERROR_KEY

from rllib_algos import PaperDQNConfig
from rllib_algos.learner_step import copy_weights, dqn_update

pytestmark = pytest.mark.slow


def random_batch(n: int, rng: np.random.Generator, max_steps: int = 1) -> dict[str, np.ndarray]:
    return {
        "n_steps": rng.integers(1, max_steps + 1, n).astype(np.float32),
        "obs": rng.integers(0, 11, (n, 9, 9, 3), dtype=np.uint8),
        "next_obs": rng.integers(0, 11, (n, 9, 9, 3), dtype=np.uint8),
        "actions": rng.integers(0, 7, n),
        "rewards": rng.random(n, dtype=np.float32),
        "terminateds": rng.random(n) < 0.2,
        "weights": rng.random(n, dtype=np.float32) + 0.5,
    }


def parameters(learner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learner.module[DEFAULT_MODULE_ID].parameters()]


def build():
    config = (
        PaperDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .training(target_network_update_freq=2)
        .debugging(seed=0)
    )
    return config.build_algo()


def learner_batch(arrays: dict[str, np.ndarray]) -> MultiAgentBatch:
    """A `TransitionReplay.sample` batch as the MultiAgentBatch `LearnerGroup.update` takes."""
    columns = {
        Columns.OBS: "obs",
        Columns.NEXT_OBS: "next_obs",
        Columns.ACTIONS: "actions",
        Columns.REWARDS: "rewards",
        Columns.TERMINATEDS: "terminateds",
        "weights": "weights",
        "n_step": "n_steps",
    }
    batch = SampleBatch({column: arrays[key] for column, key in columns.items()})
    return MultiAgentBatch({DEFAULT_MODULE_ID: batch}, env_steps=len(arrays["actions"]))


def rllib_update(algo, batch: dict[str, np.ndarray], env_steps: int) -> np.ndarray:
    """RLlib's own update (`LearnerGroup.update`), the reference `dqn_update` must match."""
    (result,) = algo.learner_group.update(
        batch=learner_batch(batch), timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: env_steps}
    )
    return np.asarray(result[DEFAULT_MODULE_ID][TD_ERROR_KEY].peek()).reshape(-1)


@pytest.mark.parametrize("max_steps", [1, 3])
def test_dqn_update_steps_the_learner_as_rllibs_update_does(ray_local, max_steps):
    """Also with transitions of 1 to 3 steps (n-step returns: bootstrap discounted by γ^k)."""
    rng = np.random.default_rng(0)
    batches = [random_batch(128, rng, max_steps) for _ in range(3)]  # the target network syncs after the 2nd
    theirs, ours = build(), build()  # same seed: same initial networks
    try:
        start = parameters(theirs.learner_group._learner)
        assert all(torch.equal(a, b) for a, b in zip(start, parameters(ours.learner_group._learner), strict=True))
        for step, batch in enumerate(batches, start=1):
            td_theirs = rllib_update(theirs, batch, step)
            td_ours, _ = dqn_update(ours.learner_group._learner, batch, env_steps=step)
            np.testing.assert_allclose(td_ours, td_theirs, rtol=1e-4, atol=1e-5)
        after_theirs, after_ours = parameters(theirs.learner_group._learner), parameters(ours.learner_group._learner)
    finally:
        theirs.stop()
        ours.stop()
    assert not all(torch.equal(a, b) for a, b in zip(start, after_theirs, strict=True))
    for a, b in zip(after_ours, after_theirs, strict=True):  # online and target networks
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_copy_weights_gives_the_sampling_module_what_rllibs_sync_gives(ray_local):
    algo = build()
    try:
        learner, sampling = algo.learner_group._learner, algo.env_runner.module
        before = {name: p.detach().clone() for name, p in sampling.named_parameters()}
        dqn_update(learner, random_batch(128, np.random.default_rng(1)), env_steps=1)
        copy_weights(learner, sampling)
        copied = {name: p.detach().clone() for name, p in sampling.named_parameters()}
        algo.env_runner_group.sync_weights(
            from_worker_or_learner_group=algo.learner_group, policies={DEFAULT_MODULE_ID}, inference_only=True
        )
        synced = {name: p.detach().clone() for name, p in sampling.named_parameters()}
    finally:
        algo.stop()
    assert copied.keys() == synced.keys() == before.keys() and len(synced) >= 8
    assert all(torch.equal(copied[name], synced[name]) for name in synced)
    assert not all(torch.equal(before[name], synced[name]) for name in synced)  # the update reached it

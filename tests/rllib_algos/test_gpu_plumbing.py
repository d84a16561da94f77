"""`--gpus-per-trial` in a trial's RLlib config: the resources Tune reserves and the devices
RLlib 2.60 picks (on CPU, Ray not started; a GPU is stood in for where RLlib asks for one)."""

from __future__ import annotations

import pytest
import ray
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.framework import get_device

from rllib_algos import ShieldedDQN
from rllib_algos.trial_config import TrialLength, trial_config
from shield.envs import DEFAULT_ENV
from shield.settings import ShieldParams
from shield.weights import WeightFiles

CUDA = torch.device("cuda:0")


def config(gpus_per_trial: float, obs: str = "symbolic"):
    length = TrialLength(env_steps=1200, iterations=2, eval_episodes=1)
    return trial_config(DEFAULT_ENV, obs, "nstep3", length, ShieldParams(mode="dqn"), WeightFiles(), gpus_per_trial)


@pytest.fixture
def gpu_assigned(monkeypatch):
    """As inside a Tune trial's actor that Ray gave a GPU: `get_device` then returns the
    GPU Ray assigned (``ray.air._internal.torch_utils.get_devices``) in a worker process."""
    import ray.air._internal.torch_utils as torch_utils

    monkeypatch.setattr(torch_utils, "get_devices", lambda: [CUDA])
    monkeypatch.setattr(ray._private.worker, "_mode", lambda: ray._private.worker.WORKER_MODE)


def test_the_share_reaches_the_local_learner():
    c = config(0.25)
    assert (c.num_learners, c.num_gpus_per_learner) == (0, 0.25)
    assert (config(0.0).num_learners, config(0.0).num_gpus_per_learner) == (0, 0.0)


@pytest.mark.parametrize("gpus", [0.25, 1.0])
def test_tune_reserves_the_share_in_the_trials_bundle_and_the_cpus_as_before(gpus):
    """What Tune asks for a trial: the trainable's request for the trial's config dict."""
    without = ShieldedDQN.default_resource_request(config(0.0).to_dict())
    with_gpu = ShieldedDQN.default_resource_request(config(gpus).to_dict())
    assert without.bundles == [{"CPU": 1.0}]  # 0: no GPU asked for
    assert with_gpu.bundles == [{"CPU": 1.0, "GPU": gpus}]  # one bundle: the Algorithm actor, Learner inside
    assert with_gpu.required_resources == {"CPU": 1.0, "GPU": gpus}


def test_a_learner_without_a_gpu_share_trains_on_cpu(gpu_assigned):
    """Even where a GPU is visible, 0 keeps the Learner on CPU; a share puts it on the GPU."""
    assert get_device(config(0.0), config(0.0).num_gpus_per_learner) == torch.device("cpu")
    assert get_device(config(0.25), config(0.25).num_gpus_per_learner) == CUDA
    from shield.envs import make_env

    learner = config(0.0).build_learner(env=make_env(DEFAULT_ENV, "symbolic"))
    assert {p.device for p in learner.module[DEFAULT_MODULE_ID].parameters()} == {torch.device("cpu")}


def test_the_local_env_runner_acts_on_cpu_whatever_the_config(gpu_assigned):
    """RLlib 2.60 builds the local EnvRunner (the sampling one when num_env_runners is 0) on
    CPU: `num_gpus_per_env_runner` applies to remote EnvRunners only. Pixels, where acting
    on a GPU would pay, are no exception."""
    c = config(0.25, obs="pixels").env_runners(num_gpus_per_env_runner=1)
    c.validate()
    runner = SingleAgentEnvRunner(config=c)  # worker_index 0: the local one
    try:
        assert {p.device for p in runner.module.parameters()} == {torch.device("cpu")}
    finally:
        runner.stop()

"""The lean connector pieces sample exactly what RLlib's default pipelines sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

from rllib_algos import ShieldedDQNConfig
from rllib_algos.connectors import LatestObservations, OutputsToNumpy
from rllib_algos.rl_module import SHIELD_DECISIONS
from shield.envs import DEFAULT_ENV


def sampled_episodes(obs: str, weights, lean: bool, steps: int) -> list:
    config = (
        ShieldedDQNConfig()
        .environment(DEFAULT_ENV, env_config={"obs": obs, "layout_seed": 123})
        .shield(mode="shield", rho=1.0, **weights)
        .debugging(seed=3)
    )
    if not lean:
        config.env_runners(
            add_default_connectors_to_env_to_module_pipeline=True,
            add_default_connectors_to_module_to_env_pipeline=True,
        )
        config._env_to_module_connector = config._module_to_env_connector = None  # RLlib's defaults
    runner = SingleAgentEnvRunner(config=config)
    torch.set_num_threads(1)  # as in a trial: two threads on a busy 2-core machine crawl
    pieces = [type(piece) for piece in runner._env_to_module.connectors + runner._module_to_env.connectors]
    assert (pieces == [LatestObservations, OutputsToNumpy]) == lean
    episodes = []
    for _ in range(steps // 40):
        episodes += runner.sample(num_timesteps=40, explore=True)
    runner.stop()
    return episodes


@pytest.mark.parametrize(("obs", "steps", "min_ended"), [("symbolic", 1600, 1), ("pixels", 160, 0)])
def test_lean_pipelines_sample_the_same_episodes_as_rllibs_defaults(obs, steps, min_ended, tmp_path):
    from shield.weights import WeightFiles, build, save_frozen

    torch.manual_seed(0)  # random frozen networks: the shield flags about every state
    encoder = save_frozen(tmp_path / "encoder.pt", "encoder", obs, build("encoder", obs))
    prior_q = save_frozen(tmp_path / "prior_q.pt", "prior_q", obs, build("prior_q", obs))
    weights = {"weights": WeightFiles(prior_q=str(prior_q), encoders={10.0: str(encoder)})}
    threads = torch.get_num_threads()
    try:
        lean = sampled_episodes(obs, weights, lean=True, steps=steps)
        default = sampled_episodes(obs, weights, lean=False, steps=steps)
    finally:
        torch.set_num_threads(threads)
    assert len(lean) == len(default) and sum(map(len, lean)) >= steps
    ended = 0
    for a, b in zip(lean, default, strict=True):
        assert a.id_ != b.id_  # two runs, not one
        for get in ("get_observations", "get_actions", "get_rewards", "get_infos"):
            assert np.array_equal(np.asarray(getattr(a, get)()), np.asarray(getattr(b, get)())), get
        assert a.is_terminated == b.is_terminated and a.is_truncated == b.is_truncated
        assert a.extra_model_outputs.keys() == b.extra_model_outputs.keys()
        assert SHIELD_DECISIONS not in a.extra_model_outputs  # counted and dropped by ShieldCallbacks
        ended += a.is_done
    assert ended >= min_ended and len({int(x) for ep in lean for x in ep.get_actions()}) > 3

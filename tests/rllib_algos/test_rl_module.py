from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns

from rllib_algos.rl_module import PaperDQNModule
from shield.envs import obs_shape


@pytest.mark.parametrize("obs", ["symbolic", "pixels"])
def test_train_forward_equals_rllibs_and_keeps_gradients_off_the_next_state(obs):
    torch.manual_seed(0)
    space = gym.spaces.Box(0, 255, obs_shape(obs), np.uint8)
    module = PaperDQNModule(
        observation_space=space,
        action_space=gym.spaces.Discrete(7),
        model_config={"double_q": True, "epsilon": [(0, 1.0)]},
        inference_only=False,
    )
    module.make_target_networks()
    with torch.no_grad():  # a target network that differs from the online one
        for p in module._target_encoder.parameters():
            p.add_(0.01)
    high = 11 if obs == "symbolic" else 256
    batch = {
        Columns.OBS: torch.randint(0, high, (16, *obs_shape(obs)), dtype=torch.uint8),
        Columns.NEXT_OBS: torch.randint(0, high, (16, *obs_shape(obs)), dtype=torch.uint8),
    }
    ours = module._forward_train(batch)
    rllib = DefaultDQNTorchRLModule._forward_train(module, batch)
    for key in (QF_PREDS, QF_NEXT_PREDS, QF_TARGET_NEXT_PREDS):
        torch.testing.assert_close(ours[key], rllib[key])
    assert ours[QF_PREDS].requires_grad
    assert not ours[QF_NEXT_PREDS].requires_grad and not ours[QF_TARGET_NEXT_PREDS].requires_grad

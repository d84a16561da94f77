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


@pytest.mark.parametrize("obs", ["symbolic", "pixels"])
def test_exploration_draws_the_same_actions_as_rllibs(obs):
    space = gym.spaces.Box(0, 255, obs_shape(obs), np.uint8)
    module = PaperDQNModule(
        observation_space=space,
        action_space=gym.spaces.Discrete(7),
        model_config={"double_q": True, "epsilon": [(0, 1.0), (1000, 0.0)]},
        inference_only=True,
    )
    assert not module.training  # an EnvRunner's copy stays in eval mode
    high = 11 if obs == "symbolic" else 256
    batch = {Columns.OBS: torch.randint(0, high, (64, *obs_shape(obs)), dtype=torch.uint8)}
    for t in (0, 500, 1000):  # all random, half, all greedy
        torch.manual_seed(t)
        ours = module.forward_exploration(batch, t=t)[Columns.ACTIONS]
        torch.manual_seed(t)
        rllib = DefaultDQNTorchRLModule._forward_exploration(module, batch, t=t)[Columns.ACTIONS]
        assert torch.equal(ours, rllib)
        if t == 0:
            assert len(set(ours.tolist())) == 7  # ε = 1: uniform over the 7 actions
    with torch.no_grad():
        assert torch.equal(ours, module.compute_q_values(batch)[QF_PREDS].argmax(dim=1))  # ε = 0: greedy


def test_the_rllib_module_and_the_plain_loop_make_the_same_decisions():
    """Both training paths call the same `Shield`: fed the same observations, proposed
    actions, stored violations and random draws, they execute the same actions."""
    import sys
    from pathlib import Path

    from rllib_algos.metrics import unpack_decisions
    from rllib_algos.pretrain_budgets import encoder_spec, prior_spec
    from rllib_algos.rl_module import SHIELD_DECISIONS, ShieldedDQNModule
    from shield.artifacts import ArtifactStore
    from shield.envs import DEFAULT_ENV
    from shield.pretrain_data import random_experience
    from shield.settings import PAPER_SHIELD, ShieldParams
    from shield.shield import Shield
    from shield.weights import WeightFiles

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from plain_dqn import PlainDQN

    store = ArtifactStore()  # the committed quick artifacts: a real encoder and Q_p
    weights = WeightFiles(
        prior_q=str(store.check(prior_spec("symbolic", "quick"))),
        encoders={PAPER_SHIELD.margin: str(store.check(encoder_spec("symbolic", "quick")))},
    )
    settings = ShieldParams(rho=0.8)
    module = ShieldedDQNModule(
        observation_space=gym.spaces.Box(0, 255, obs_shape("symbolic"), np.uint8),
        action_space=gym.spaces.Discrete(7),
        model_config={"double_q": True, "epsilon": [(0, 1.0)], "shield": settings.to_dict() | {"weights": weights}},
        inference_only=False,
    )
    module.shield.generator = torch.Generator().manual_seed(0)
    plain = PlainDQN(DEFAULT_ENV, "symbolic", 123, total_steps=1000)
    plain.shield = Shield.load(settings, weights, "symbolic", generator=torch.Generator().manual_seed(0))

    data = random_experience([DEFAULT_ENV], "symbolic", 3000, seed=3)
    for obs in data.obs[data.unsafe][:12]:
        module.record_violation(obs)
        plain.shield.record_violation(torch.as_tensor(obs))
    flagged = replaced = 0
    for start in range(0, len(data), 250):
        obs = data.obs[start : start + 250]
        out = module._forward_exploration({Columns.OBS: torch.as_tensor(obs)}, t=0)
        rllib = unpack_decisions(out[SHIELD_DECISIONS].numpy())
        ours = plain.shielded(obs, rllib["proposed"])
        np.testing.assert_array_equal(out[Columns.ACTIONS].numpy(), ours.actions.numpy())
        for key in ("flagged", "proposed_unsafe", "replaced"):
            np.testing.assert_array_equal(rllib[key], getattr(ours, key).numpy())
        flagged, replaced = flagged + int(rllib["flagged"].sum()), replaced + int(rllib["replaced"].sum())
    assert flagged > 20 and replaced > 0  # the comparison covered the shield acting

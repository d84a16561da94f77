from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns
from torch import nn

from rllib_algos.metrics import unpack_decisions
from rllib_algos.rl_module import SHIELD_DECISIONS, SHIELD_DISTANCE, PaperDQNModule, ShieldedDQNModule
from shield.envs import DEFAULT_ENV, FORWARD, NUM_ACTIONS, obs_shape
from shield.oracle import OracleEncoder, OracleQ
from shield.pretrain_data import random_experience
from shield.settings import ShieldParams
from shield.shield import Shield

CENTRE = 4  # the symbolic grid's centre cell, x and y


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


class HandEncoder(nn.Module):
    """A latent anyone can compute: the first two values of the centre cell, (x, y)."""

    latent_dim = 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, CENTRE, CENTRE, :2].float()


class ForwardBadWhereMarked(nn.Module):
    """Q_p rating forward −1 (unsafe at tau 0) where the centre cell's third value is 1, and
    every action 0 (all allowed) elsewhere."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        q = torch.zeros(len(obs), NUM_ACTIONS)
        q[:, FORWARD] = -obs[:, CENTRE, CENTRE, 2].float()
        return q


def shielded_module(settings: ShieldParams, encoder: nn.Module, prior_q: nn.Module, epsilon: float):
    """A symbolic ShieldedDQNModule whose shield has the given networks (through its
    `make_shield` hook: no weight files)."""

    class Module(ShieldedDQNModule):
        def make_shield(self) -> Shield:
            return Shield(settings, encoder, prior_q)

    return Module(
        observation_space=gym.spaces.Box(0, 255, obs_shape("symbolic"), np.uint8),
        action_space=gym.spaces.Discrete(NUM_ACTIONS),
        model_config={"double_q": True, "epsilon": [(0, epsilon)], "shield": settings},
        inference_only=True,
    )


def cells(*values: tuple[int, int, int]) -> torch.Tensor:
    """Symbolic observations [B, 9, 9, 3], all zero but the centre cell's three values."""
    obs = torch.zeros(len(values), *obs_shape("symbolic"), dtype=torch.uint8)
    obs[:, CENTRE, CENTRE] = torch.tensor(values, dtype=torch.uint8)
    return obs


def test_exploration_executes_the_hand_computed_decisions_of_the_shield():
    """Unsafe embeddings at (0, 0), (0, 2), (6, 0), (6, 8); k = 2, d_max = 3, rho = 1. The
    distances D are the means of each state's two nearest rows, worked out by hand."""
    settings = ShieldParams(d_max=3.0, k=2, rho=1.0, buffer_rule="ring", d_max_rule="fixed")
    module = shielded_module(settings, HandEncoder(), ForwardBadWhereMarked(), epsilon=0.0)
    with torch.no_grad():  # the greedy action is forward in every state
        module.af.weight.zero_()
        module.af.bias.copy_(torch.nn.functional.one_hot(torch.tensor(FORWARD), NUM_ACTIONS).float())
    for death in cells((0, 0, 0), (0, 2, 0), (6, 0, 0), (6, 8, 0)):
        module.record_violation(death.numpy())
    obs = cells(
        (0, 1, 0),  # D = (1 + 1) / 2 = 1 < 3: flagged; forward allowed, kept
        (0, 1, 1),  # the same state, forward marked unsafe: flagged and replaced
        (3, 0, 0),  # D = (3 + 3) / 2 = 3, not below d_max: not flagged
        (3, 0, 1),  # not flagged, so forward stays although Q_p rates it unsafe
        (6, 1, 1),  # nearest row 1 away, but D = (1 + √37) / 2 ≈ 3.54 with k = 2: not flagged
        (6, 4, 1),  # D = (4 + 4) / 2 = 4: not flagged
    )
    out = module.forward_exploration({Columns.OBS: obs}, t=0)
    decisions = unpack_decisions(out[SHIELD_DECISIONS].numpy())
    torch.testing.assert_close(out[SHIELD_DISTANCE], torch.tensor([1.0, 1.0, 3.0, 3.0, (1 + 37**0.5) / 2, 4.0]))
    assert module.last_d_max == 3.0
    assert (decisions["proposed"] == FORWARD).all()
    assert decisions["flagged"].tolist() == [True, True, False, False, False, False]
    assert decisions["proposed_unsafe"].tolist() == [False, True, False, False, False, False]
    assert decisions["replaced"].tolist() == decisions["proposed_unsafe"].tolist()
    actions = out[Columns.ACTIONS].tolist()
    assert actions[1] != FORWARD and actions[:1] + actions[2:] == [FORWARD] * 5


def test_exploration_never_executes_forward_into_lava_behind_a_ground_truth_shield():
    """The oracle encoder and Q_p (`shield.oracle`) behind the module, on real MiniGrid
    observations: the steps flagged are exactly those with lava ahead (the environment's
    own ground truth), and exactly the random proposals of forward among them are
    replaced, by moves other than forward."""
    settings = ShieldParams(rho=1.0, buffer_rule="ring", d_max_rule="fixed")
    module = shielded_module(settings, OracleEncoder(), OracleQ(), epsilon=1.0)
    data = random_experience([DEFAULT_ENV], "symbolic", 4000, seed=3)
    for obs in data.obs[data.unsafe][:4]:
        module.record_violation(obs)
    torch.manual_seed(0)
    out = module.forward_exploration({Columns.OBS: torch.as_tensor(data.obs)}, t=0)
    decisions = unpack_decisions(out[SHIELD_DECISIONS].numpy())
    actions, ahead = out[Columns.ACTIONS].numpy(), data.lava_ahead
    into_lava = ahead & (decisions["proposed"] == FORWARD)
    np.testing.assert_array_equal(decisions["flagged"], ahead)
    np.testing.assert_array_equal(decisions["proposed_unsafe"], into_lava)
    np.testing.assert_array_equal(decisions["replaced"], into_lava)
    assert not (ahead & (actions == FORWARD)).any()
    np.testing.assert_array_equal(actions[~into_lava], decisions["proposed"][~into_lava])
    assert into_lava.sum() > 20 and (ahead & ~into_lava).sum() > 20  # both kinds of lava-side step were seen

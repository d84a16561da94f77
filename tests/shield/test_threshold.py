"""The state check's threshold rules and the operating-point figures, on hand-built data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from shield.pretrain_data import Experience
from shield.quality import operating_points, state_check_figures
from shield.settings import ShieldParams
from shield.shield import Shield
from shield.threshold import MIN_UNSAFE, STATE_WINDOW, UNSAFE_WINDOW, AdaptiveThreshold


class FirstValue(nn.Module):
    """Latent = the observation's first value / 10: with unsafe embeddings at 0, D is it."""

    latent_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1].float() / 10


def hand_built_experience() -> Experience:
    """Episodes 0-9 hold 10 unsafe observations at D 0 (they fill the buffer); episodes
    10-19 hold the queries: 20 lava-ahead states at D 0.5, 10 safe at 1.5, 70 safe at 3.0."""
    first = np.zeros((10, 2), dtype=np.uint8)
    queries = np.array([[5, 0]] * 20 + [[15, 0]] * 10 + [[30, 0]] * 70, dtype=np.uint8)
    obs = np.concatenate([first, queries])
    unsafe = np.concatenate([np.ones(10, bool), np.zeros(100, bool)])
    ahead = np.concatenate([np.ones(10, bool), np.ones(20, bool), np.zeros(80, bool)])
    episode = np.concatenate([np.arange(10), 10 + np.arange(100) % 10])
    return Experience(obs, unsafe, ahead, episode)


def test_operating_points_of_a_hand_built_encoder_and_buffer():
    figures = operating_points(FirstValue(), hand_built_experience(), d_max_values=(0.4, 1.0, 2.0, 4.0), k=3)
    at = figures["d_max"]
    assert at["0.4"]["flag_rate"] == 0.0 and math.isnan(at["0.4"]["precision"]) and at["0.4"]["recall"] == 0.0
    assert at["1"] == pytest.approx({"flag_rate": 0.2, "precision": 1.0, "recall": 1.0})
    assert at["2"] == pytest.approx({"flag_rate": 0.3, "precision": 2 / 3, "recall": 1.0})
    assert at["4"] == pytest.approx({"flag_rate": 1.0, "precision": 0.2, "recall": 1.0})
    assert figures["D_unsafe"]["q50"] == pytest.approx(0.5) and figures["D_safe"]["q50"] == pytest.approx(3.0)


def test_state_check_figures_leave_undefined_rates_undefined():
    figures = state_check_figures(np.array([5.0, 6.0]), np.array([False, False]), d_max=1.0)
    assert figures["flag_rate"] == 0.0 and math.isnan(figures["precision"]) and math.isnan(figures["recall"])


def test_the_adaptive_threshold_keeps_its_start_until_enough_deaths():
    rule = AdaptiveThreshold(start=2.5, recall=0.9, flag_rate=0.2)
    rule.observe_states(np.linspace(0, 5, 1000))
    for d in range(MIN_UNSAFE - 1):
        rule.observe_unsafe(0.1 * d)
    rule.update()
    assert rule.value == 2.5


def test_without_checked_states_the_adaptive_threshold_flags_the_recall_share_of_deaths():
    rng = np.random.default_rng(0)
    rule = AdaptiveThreshold(start=2.5, recall=0.9, flag_rate=0.2)
    for d in rng.uniform(0, 1, UNSAFE_WINDOW):
        rule.observe_unsafe(d)
    unsafe = rule.unsafe.values[: rule.unsafe.size]
    assert np.mean(unsafe < rule.value) == pytest.approx(0.9, abs=0.011)
    # the window follows the stream: pre-death states much closer to danger lower it
    for d in rng.uniform(0, 0.1, UNSAFE_WINDOW):
        rule.observe_unsafe(d)
    assert rule.value < 0.1


def test_the_adaptive_threshold_sits_in_the_middle_of_the_gap():
    """Deaths at D <= 0.2, checked states at D 3-4: the threshold lands half-way between the
    0.9-quantile of the deaths (0.18) and the 0.2-quantile of the checked states (3.2)."""
    rule = AdaptiveThreshold(start=2.5, recall=0.9, flag_rate=0.2)
    rule.observe_states(np.linspace(3.0, 4.0, 1001))
    for d in np.linspace(0.0, 0.2, 11):
        rule.observe_unsafe(d)
    assert rule.value == pytest.approx((0.18 + 3.2) / 2, abs=1e-6)
    rule.observe_states(np.full(2 * STATE_WINDOW, np.inf))  # unchecked states are ignored
    rule.update()
    assert rule.value == pytest.approx((0.18 + 3.2) / 2, abs=1e-6)


def test_without_a_gap_the_adaptive_threshold_flags_at_most_the_flag_rate():
    rule = AdaptiveThreshold(start=2.5, recall=0.9, flag_rate=0.2)
    rule.observe_states(np.linspace(0.0, 1.0, STATE_WINDOW))  # most states close to danger
    for d in np.linspace(0.5, 2.0, 20):
        rule.observe_unsafe(d)
    assert rule.value == pytest.approx(0.2, abs=1e-3)  # not the 0.9-quantile of deaths (1.85)
    states = rule.states.values[: rule.states.size]
    assert np.mean(states < rule.value) <= 0.2 + 1e-3


def test_an_adaptive_shield_moves_its_threshold_as_deaths_are_recorded():
    class Identity(nn.Module):
        latent_dim = 1

        def forward(self, obs):
            return obs[:, :1].float()

    class Forward(nn.Module):
        def forward(self, obs):
            return torch.zeros(len(obs), 7)

    rule = ShieldParams(d_max_rule="adaptive", d_max=2.5, rho=1.0, buffer_rule="ring")  # repeats stored
    shield = Shield(rule, Identity(), Forward())
    for _ in range(4):
        shield.record_violation(torch.zeros(1))  # the check becomes active
    assert shield.d_max == 2.5
    for d in (0.1, 0.2, 0.3, 0.2, 0.1, 0.3):  # deaths this close to the stored ones
        shield.record_violation(torch.tensor([d]))
    assert 0.2 < shield.d_max < 0.31
    decision = shield.decide(torch.tensor([[0.25], [0.5]]), torch.tensor([0, 0]))
    assert decision.d_max == shield.d_max and decision.flagged.tolist() == [True, False]


def test_a_relative_threshold_scales_with_the_margin():
    assert ShieldParams(d_max=0.5, margin=16.0, d_max_rule="relative").d_max_start == 2.0
    assert ShieldParams(d_max=0.5, margin=16.0).d_max_start == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_max_rule": "median"}, "d_max_rule must be one of"),
        ({"adaptive_recall": 0.0}, r"adaptive_recall must be in \(0, 1\]"),
        ({"adaptive_recall": 1.5}, r"adaptive_recall must be in \(0, 1\]"),
        ({"adaptive_flag_rate": -0.1}, r"adaptive_flag_rate must be in \(0, 1\]"),
    ],
)
def test_bad_rule_parameters_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShieldParams(**kwargs)


def test_capped_threshold_keeps_d_max_until_it_would_flag_more_than_the_rate():
    from shield.threshold import UPDATE_EVERY, CappedThreshold

    rule = CappedThreshold(start=2.5, flag_rate=0.2)
    far = np.full(8, 3.0)  # nothing flagged at 2.5
    for _ in range(UPDATE_EVERY):
        rule.observe_states(far)
    assert rule.value == 2.5
    # now 60% of states lie at 1.0, under d_max: the cap lowers the threshold to their 20% quantile
    rng = np.random.default_rng(0)
    for _ in range(STATE_WINDOW // 8):
        rule.observe_states(np.where(rng.random(8) < 0.6, rng.uniform(0.5, 1.5, 8), 3.0))
    assert 0.5 < rule.value < 1.0
    flagged = np.mean(rule.states.kept() < rule.value)
    assert abs(flagged - 0.2) < 0.01
    rule.observe_unsafe(0.0)  # deaths do not move it
    assert 0.5 < rule.value < 1.0


def test_capped_shield_keeps_the_adaptive_flag_rate_and_labels_it():
    from shield.settings import setting_label
    from sweeps.plan import shield_settings

    (setting,) = shield_settings({"d_max_rule": ["capped"], "adaptive_flag_rate": [0.1]})
    assert setting.adaptive_flag_rate == 0.1 and setting.adaptive_recall == 0.9
    label = setting_label(setting.to_dict())  # capped is the default rule: only its non-default rate is named
    assert label.endswith("k=10 tau=0 adaptive_flag_rate=0.1") and "d_max_rule" not in label
    shield = Shield(setting, FirstValue(), Zeros())
    assert type(shield.adaptive).__name__ == "CappedThreshold" and shield.d_max == 2.5


class Zeros(nn.Module):
    def forward(self, obs):
        return torch.zeros(len(obs), 7)

from __future__ import annotations

import math

import pytest
import torch

from shield.decision import ShieldParams, decide
from shield.envs import FORWARD

INF = float("inf")


def q_forward_bad(B: int) -> torch.Tensor:
    q = torch.zeros(B, 7)
    q[:, FORWARD] = -1.0
    return q


def test_mode_dqn_changes_nothing():
    proposed = torch.tensor([0, 1, FORWARD])
    d = decide(proposed, None, None, ShieldParams(mode="dqn"))
    assert torch.equal(d.actions, proposed) and not d.flagged.any() and not d.replaced.any()


def test_shield_replaces_unsafe_actions_only_in_flagged_states():
    proposed = torch.full((6,), FORWARD)
    D = torch.tensor([0.5, 2.4, 2.5, 3.0, INF, 0.0])
    d = decide(proposed, q_forward_bad(6), D, ShieldParams(mode="shield", d_max=2.5, rho=1.0))
    assert d.flagged.tolist() == [True, True, False, False, False, True]
    assert torch.equal(d.replaced, d.flagged) and torch.equal(d.proposed_unsafe, d.flagged)
    assert (d.actions[d.replaced] != FORWARD).all()
    assert (d.actions[~d.replaced] == FORWARD).all()


def test_safe_proposals_are_kept_in_flagged_states():
    proposed = torch.tensor([0, 1, 3])
    d = decide(proposed, q_forward_bad(3), torch.zeros(3), ShieldParams(rho=1.0))
    assert d.flagged.all() and not d.replaced.any() and torch.equal(d.actions, proposed)


def test_replacement_is_uniform_over_allowed_actions():
    torch.manual_seed(0)
    n = 60_000
    q = q_forward_bad(n)
    q[:, 6] = -2.0  # two unsafe actions: forward and 6
    d = decide(torch.full((n,), FORWARD), q, torch.zeros(n), ShieldParams(rho=1.0))
    counts = torch.bincount(d.actions, minlength=7).float() / n
    assert counts[FORWARD] == 0 and counts[6] == 0
    allowed = [0, 1, 3, 4, 5]
    assert torch.allclose(counts[allowed], torch.full((5,), 0.2), atol=0.01)


def test_rho_is_the_probability_of_acting_on_a_flagged_state():
    torch.manual_seed(1)
    n = 40_000
    d = decide(torch.full((n,), FORWARD), q_forward_bad(n), torch.zeros(n), ShieldParams(rho=0.3))
    assert d.flagged.float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_priors_checks_actions_everywhere_with_probability_rho():
    n = 1000
    d = decide(torch.full((n,), FORWARD), q_forward_bad(n), None, ShieldParams(mode="priors", rho=1.0))
    assert d.flagged.all() and (d.actions != FORWARD).all()
    d0 = decide(torch.full((n,), FORWARD), q_forward_bad(n), None, ShieldParams(mode="priors", rho=0.0))
    assert not d0.flagged.any() and (d0.actions == FORWARD).all()


def test_tau_moves_the_action_threshold():
    q = torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])  # mean 0.3
    flagged_all = ShieldParams(rho=1.0, tau=0.0)
    assert decide(torch.tensor([2]), q, torch.zeros(1), flagged_all).replaced.item()  # 0.2 - 0.3 < 0
    assert not decide(torch.tensor([2]), q, torch.zeros(1), ShieldParams(rho=1.0, tau=-0.2)).replaced.item()


def test_no_allowed_action_keeps_the_proposal():
    q = torch.zeros(1, 7)
    d = decide(torch.tensor([FORWARD]), q, torch.zeros(1), ShieldParams(rho=1.0, tau=1.0))
    assert d.proposed_unsafe.item() and not d.replaced.item() and d.actions.item() == FORWARD


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_max": 0.0}, "d_max must be"),
        ({"d_max": -1.0}, "d_max must be"),
        ({"d_max": math.inf}, "d_max must be"),
        ({"rho": 1.5}, r"rho must be in \[0, 1\]"),
        ({"rho": -0.1}, r"rho must be in \[0, 1\]"),
        ({"buffer_size": 0}, "buffer_size must be an integer >= 1"),
        ({"buffer_size": 2.5}, "buffer_size must be an integer >= 1"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"mode": "lagrangian"}, "mode must be one of"),
        ({"tau": math.nan}, "tau must be"),
    ],
)
def test_bad_parameters_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShieldParams(**kwargs)

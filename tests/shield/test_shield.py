"""The shield's rules, on `Shield` itself: the object both training loops call."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shield.envs import FORWARD
from shield.settings import DEFAULT_SHIELD, PAPER_SHIELD, ShieldParams, setting_label
from shield.shield import Shield

INF = float("inf")


class Distance(nn.Module):
    """An 'encoder' whose latent is the observation's first value: with the unsafe
    buffer at the origin, D equals that value."""

    latent_dim = 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1].float()


class ForwardBad(nn.Module):
    """Q_p that rates forward −1 and every other action 0 (the observation's second value,
    when 1, also rates action 6 −2)."""

    def __init__(self):
        super().__init__()
        self.calls: list[int] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(obs))
        q = torch.zeros(len(obs), 7)
        q[:, FORWARD] = -1.0
        q[:, 6] = -2.0 * obs[:, 1].float()
        return q


def shield(stored: int = 4, **settings) -> Shield:
    # `stored` identical deaths: the paper's ring stores each (the default "distinct" keeps one)
    s = Shield(ShieldParams(**({"buffer_rule": "ring"} | settings)), Distance(), ForwardBad())
    for _ in range(stored):
        s.record_violation(torch.zeros(2))
    return s


def obs_at(distances: list[float], second: float = 0.0) -> torch.Tensor:
    return torch.tensor([[d, second] for d in distances])


def test_mode_dqn_changes_nothing_and_draws_nothing():
    s = Shield(ShieldParams(mode="dqn"))
    proposed = torch.tensor([0, 1, FORWARD])
    state = torch.get_rng_state()
    d = s.decide(obs_at([0.0, 0.0, 0.0]), proposed)
    assert torch.equal(d.actions, proposed) and not d.flagged.any() and not d.replaced.any()
    assert torch.equal(torch.get_rng_state(), state)


def test_shield_replaces_unsafe_actions_only_in_states_closer_than_d_max():
    s = shield(d_max=2.5, rho=1.0)
    d = s.decide(obs_at([0.5, 2.4, 2.5, 3.0, 100.0, 0.0]), torch.full((6,), FORWARD))
    assert d.flagged.tolist() == [True, True, False, False, False, True]
    assert torch.equal(d.replaced, d.flagged) and torch.equal(d.proposed_unsafe, d.flagged)
    assert (d.actions[d.replaced] != FORWARD).all() and (d.actions[~d.replaced] == FORWARD).all()
    torch.testing.assert_close(d.distance, torch.tensor([0.5, 2.4, 2.5, 3.0, 100.0, 0.0]))


def test_q_p_runs_on_flagged_states_only_and_once_per_distinct_state():
    s = shield(d_max=2.5, rho=1.0)
    s.decide(obs_at([0.5, 3.0, 3.0, 0.1]), torch.full((4,), FORWARD))
    s.decide(obs_at([3.0, 3.0]), torch.full((2,), FORWARD))
    assert s.prior_q.calls == [1, 1]  # the two flagged states, each alone (`shield.memo`)
    d = s.decide(obs_at([0.1, 0.5, 0.5]), torch.full((3,), FORWARD))
    assert s.prior_q.calls == [1, 1] and d.replaced.all()  # seen before: memoised


@pytest.mark.parametrize(("stored", "active"), [(0, False), (3, False), (4, True), (7, True)])
def test_state_check_waits_for_more_than_three_stored_embeddings(stored, active):
    s = shield(stored=stored, rho=1.0)
    d = s.decide(obs_at([0.0, 0.0]), torch.full((2,), FORWARD))
    assert d.flagged.all().item() is active
    assert torch.isinf(d.distance).all().item() is not active


def test_record_violation_fills_a_ring_of_buffer_size():
    s = shield(stored=0, buffer_size=3)
    for i in range(5):
        s.record_violation(torch.tensor([float(i), 0.0]))
    assert s.unsafe_buffer.stored == 3
    assert sorted(s.unsafe_buffer.rows[:, 0].tolist()) == [2.0, 3.0, 4.0]


def test_safe_proposals_are_kept_in_flagged_states():
    proposed = torch.tensor([0, 1, 3])
    d = shield(rho=1.0).decide(obs_at([0.0, 0.0, 0.0]), proposed)
    assert d.flagged.all() and not d.replaced.any() and torch.equal(d.actions, proposed)


def test_replacement_is_uniform_over_allowed_actions():
    torch.manual_seed(0)
    n = 60_000
    d = shield(rho=1.0).decide(obs_at([0.0] * n, second=1.0), torch.full((n,), FORWARD))  # forward and 6 unsafe
    counts = torch.bincount(d.actions, minlength=7).float() / n
    assert counts[FORWARD] == 0 and counts[6] == 0
    allowed = [0, 1, 3, 4, 5]
    assert torch.allclose(counts[allowed], torch.full((5,), 0.2), atol=0.01)


def test_rho_is_the_probability_of_acting_on_a_flagged_state():
    torch.manual_seed(1)
    n = 40_000
    d = shield(rho=0.3).decide(obs_at([0.0] * n), torch.full((n,), FORWARD))
    assert d.flagged.float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_priors_checks_actions_everywhere_with_probability_rho():
    n = 1000
    far = obs_at([100.0] * n)
    d = Shield(ShieldParams(mode="priors", rho=1.0), prior_q=ForwardBad()).decide(far, torch.full((n,), FORWARD))
    assert d.flagged.all() and (d.actions != FORWARD).all()
    d0 = Shield(ShieldParams(mode="priors", rho=0.0), prior_q=ForwardBad()).decide(far, torch.full((n,), FORWARD))
    assert not d0.flagged.any() and (d0.actions == FORWARD).all()


def test_tau_moves_the_action_threshold():
    class Ramp(nn.Module):
        def forward(self, obs):
            return torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]).expand(len(obs), 7)  # mean 0.3

    def replaced(tau: float) -> bool:
        s = Shield(ShieldParams(mode="priors", rho=1.0, tau=tau), prior_q=Ramp())
        return s.decide(obs_at([0.0]), torch.tensor([2])).replaced.item()

    assert replaced(0.0)  # 0.2 − 0.3 < 0
    assert not replaced(-0.2)


def test_no_allowed_action_keeps_the_proposal():
    class Flat(nn.Module):
        def forward(self, obs):
            return torch.zeros(len(obs), 7)

    s = Shield(ShieldParams(mode="priors", rho=1.0, tau=1.0), prior_q=Flat())
    d = s.decide(obs_at([0.0]), torch.tensor([FORWARD]))
    assert d.proposed_unsafe.item() and not d.replaced.item() and d.actions.item() == FORWARD


def test_the_same_generator_state_gives_the_same_decisions():
    decisions = []
    for _ in range(2):
        s = Shield(
            ShieldParams(rho=0.5, buffer_rule="ring"),
            Distance(),
            ForwardBad(),
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(4):
            s.record_violation(torch.zeros(2))
        decisions.append(s.decide(obs_at([0.0] * 500, second=1.0), torch.full((500,), FORWARD)))
    assert torch.equal(decisions[0].actions, decisions[1].actions)
    assert torch.equal(decisions[0].flagged, decisions[1].flagged)
    assert 0 < decisions[0].flagged.sum() < 500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_max": 0.0}, "d_max must be"),
        ({"d_max": -1.0}, "d_max must be"),
        ({"d_max": math.inf}, "d_max must be"),
        ({"margin": 0.0}, "margin must be"),
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


def test_a_mode_without_its_networks_is_refused():
    with pytest.raises(ValueError, match="needs an encoder"):
        Shield(ShieldParams(mode="shield"), prior_q=ForwardBad())
    with pytest.raises(ValueError, match="needs a prior Q-network"):
        Shield(ShieldParams(mode="priors"))


def test_setting_labels_name_the_settings_that_act_in_each_mode():
    assert setting_label({"mode": "dqn", "rho": 0.5}) == "dqn"
    assert setting_label({**PAPER_SHIELD.to_dict(), "mode": "priors"}) == "priors rho=0.95 tau=0"
    paper = setting_label({**PAPER_SHIELD.to_dict()})
    assert paper == "shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 buffer_rule=ring k=10 tau=0 d_max_rule=fixed"
    assert setting_label(DEFAULT_SHIELD.to_dict()) == "shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"


def test_under_the_distinct_rule_repeated_deaths_count_once():
    s = shield(stored=4, buffer_rule="distinct")
    assert s.unsafe_buffer.stored == 1 and torch.isinf(s.distance(obs_at([0.0]))).all()
    for d in (1.0, 2.0, 3.0):  # three more, each different
        s.record_violation(torch.tensor([d, 0.0]))
    assert s.unsafe_buffer.stored == 4 and s.decide(obs_at([0.0]), torch.tensor([FORWARD])).flagged.item()


def test_the_papers_setting_differs_from_the_default_only_in_the_buffer_and_d_max_rules():
    differ = {k for k, v in PAPER_SHIELD.to_dict().items() if DEFAULT_SHIELD.to_dict()[k] != v}
    assert differ == {"buffer_rule", "d_max_rule"}
    assert (PAPER_SHIELD.buffer_rule, PAPER_SHIELD.d_max_rule) == ("ring", "fixed")


def test_the_papers_setting_keeps_a_ring_that_stores_every_death():
    s = Shield(PAPER_SHIELD, Distance(), ForwardBad())
    for _ in range(4):
        s.record_violation(torch.zeros(2))
    assert s.unsafe_buffer.stored == 4 and s.unsafe_buffer.active
    assert s.decide(obs_at([1.0]), torch.tensor([FORWARD])).distance.item() == 1.0


def state_only(stored: int = 4, **settings) -> Shield:
    """A "state_only" shield whose Q_p, were it ever called, would record the call."""
    s = Shield(ShieldParams(**({"mode": "state_only", "buffer_rule": "ring"} | settings)), Distance(), ForwardBad())
    for _ in range(stored):
        s.record_violation(torch.zeros(2))
    return s


def test_state_only_replaces_a_flagged_forward_into_lava_without_q_p():
    s = state_only(d_max=2.5, rho=1.0)
    d = s.decide(obs_at([0.5, 0.0, 3.0, 100.0]), torch.full((4,), FORWARD))
    assert d.flagged.tolist() == [True, True, False, False]
    assert torch.equal(d.replaced, d.flagged) and torch.equal(d.proposed_unsafe, d.flagged)
    assert (d.actions[:2] != FORWARD).all() and (d.actions[2:] == FORWARD).all()  # unflagged: untouched
    assert s.prior_q.calls == []  # Q_p never called


def test_state_only_replaces_whatever_was_proposed_with_a_uniform_other_action():
    torch.manual_seed(0)
    n = 70_000
    for proposed in (FORWARD, 0):  # a safe proposal in a flagged state is replaced too
        d = state_only(rho=1.0).decide(obs_at([0.0] * n), torch.full((n,), proposed))
        counts = torch.bincount(d.actions, minlength=7).float() / n
        others = [a for a in range(7) if a != proposed]
        assert counts[proposed] == 0
        assert torch.allclose(counts[others], torch.full((6,), 1 / 6), atol=0.01)


def test_state_only_acts_on_a_flagged_state_with_probability_rho():
    torch.manual_seed(2)
    n = 40_000
    d = state_only(rho=0.3).decide(obs_at([0.0] * n), torch.full((n,), FORWARD))
    assert d.replaced.float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(d.replaced, d.actions != FORWARD)


def test_state_only_is_inactive_until_more_than_three_deaths_are_stored():
    d = state_only(stored=3, rho=1.0).decide(obs_at([0.0, 0.0]), torch.full((2,), FORWARD))
    assert not d.flagged.any() and (d.actions == FORWARD).all()


def test_state_only_needs_the_encoder_only():
    Shield(ShieldParams(mode="state_only"), encoder=Distance())  # no Q_p: accepted
    with pytest.raises(ValueError, match="mode 'state_only' needs an encoder"):
        Shield(ShieldParams(mode="state_only"), prior_q=ForwardBad())
    with pytest.raises(ValueError, match="state_only"):
        ShieldParams(mode="state_check")


def test_state_only_labels_name_the_state_checks_settings_but_not_tau():
    label = setting_label(ShieldParams(mode="state_only", tau=0.5))
    assert label == "state_only d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10"
    assert ShieldParams(mode="state_only", tau=0.5).acting() == ShieldParams(mode="state_only")

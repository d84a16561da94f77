from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.priors import pseudo_reward, task_weights, undesirability


def direct(q_s, a, q_next, gamma, threshold=0.1):
    """Karimpanal et al.'s rule for one transition, written out with Python floats."""
    N = len(q_s)
    W = [abs(q_s[i][a] / max(q_s[i]) - 1) for i in range(N)]
    e = [math.exp(w) for w in W]
    p = [x / sum(e) for x in e]
    H = -sum(pi * math.log(pi) for pi in p) / math.log(N)
    mu = sum(W) / N
    if mu * H <= threshold:
        return 0.0, False
    return sum(p[i] * (q_s[i][a] - gamma * max(q_next[i])) for i in range(N)), True


@settings(max_examples=60, deadline=None)
@given(
    n_tasks=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    gamma=st.floats(0.5, 0.999),
)
def test_pseudo_reward_matches_the_rule(n_tasks, seed, gamma):
    g = torch.Generator().manual_seed(seed)
    q_s = torch.rand(n_tasks, 4, 7, generator=g, dtype=torch.float64) + 0.05
    q_next = torch.rand(n_tasks, 4, 7, generator=g, dtype=torch.float64)
    actions = torch.randint(0, 7, (4,), generator=g)
    reward, undesirable = pseudo_reward(q_s, actions, q_next, gamma)
    for b in range(4):
        want, flag = direct(q_s[:, b].tolist(), int(actions[b]), q_next[:, b].tolist(), gamma)
        assert bool(undesirable[b]) == flag
        assert reward[b].item() == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_best_action_is_not_undesirable_and_worthless_action_is():
    q = torch.tensor([[[1.0, 0.5, 0.0]], [[2.0, 1.0, 0.0]]])  # 2 tasks, 1 state, 3 actions
    W_best = undesirability(q, torch.tensor([0]))
    W_zero = undesirability(q, torch.tensor([2]))
    assert torch.allclose(W_best, torch.zeros(1, 2)) and torch.allclose(W_zero, torch.ones(1, 2))
    reward, undesirable = pseudo_reward(q, torch.tensor([2]), q, gamma=0.9)
    assert undesirable.item() and reward.item() < 0


def test_entropy_is_normalised():
    p, H, mu = task_weights(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 50.0]]))
    assert H[0].item() == pytest.approx(1.0) and H[1].item() < 0.01
    assert mu.tolist() == pytest.approx([1.0, 50 / 3])


def test_zero_max_q_does_not_divide_by_zero():
    q = torch.zeros(2, 1, 3)
    W = undesirability(q, torch.tensor([1]))
    assert torch.isfinite(W).all()

"""Transferable domain priors (Karimpanal et al.): undesirability and pseudo-reward.

For a transition (s, a, s') and N source tasks with Q-functions Q_i:

    W_i = | Q_i(s, a) / max_a' Q_i(s, a') − 1 |        undesirability in task i
    p   = softmax_i(W)                                  weight of each task
    H   = −Σ_i p_i log p_i / log N                      normalised entropy, in [0, 1]
    μ   = mean_i W_i

The pair is undesirable when μ · H > threshold (0.1); its pseudo-reward is then

    r̃ = Σ_i p_i · (Q_i(s, a) − γ · max_a' Q_i(s', a'))

and 0 otherwise. Q_p is learned by DQN on r̃ in place of the environment's reward.
"""

from __future__ import annotations

import math

import torch

UNDESIRABLE_THRESHOLD = 0.1
_EPS = 1e-6  # |max_a' Q_i(s, a')| below this is treated as ±_EPS (avoids dividing by 0)


def undesirability(q_s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """W [B, N] from source Q-values q_s [N, B, A] and actions [B]."""
    q_sa = q_s.gather(2, actions.view(1, -1, 1).expand(q_s.shape[0], -1, 1)).squeeze(2)  # [N, B]
    q_max = q_s.max(dim=2).values
    tiny = torch.where(q_max < 0, -_EPS, _EPS).to(q_max.dtype)
    safe_max = torch.where(q_max.abs() < _EPS, tiny, q_max)
    return (q_sa / safe_max - 1.0).abs().T


def task_weights(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(p [B, N], H [B], μ [B]) from W [B, N] (H normalised by log N; 0 when N = 1)."""
    p = torch.softmax(W, dim=1)
    N = W.shape[1]
    H = -(p * p.clamp(min=1e-12).log()).sum(dim=1) / math.log(N) if N > 1 else torch.zeros(len(W))
    return p, H, W.mean(dim=1)


def pseudo_reward(
    q_s: torch.Tensor,
    actions: torch.Tensor,
    q_next: torch.Tensor,
    gamma: float,
    threshold: float = UNDESIRABLE_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-rewards for B transitions.

    Args:
        q_s: source Q-values at s, [N, B, A].
        actions: a, [B] long.
        q_next: source Q-values at the bootstrap state s', [N, B, A] (which state s' is
            after a lava death is the caller's decision; see `shield.pretrain_data`).
        gamma: discount of the source tasks.
        threshold: μ·H above which a pair is undesirable.

    Returns:
        (r̃ [B], undesirable [B] bool).
    """
    W = undesirability(q_s, actions)
    p, H, mu = task_weights(W)
    undesirable = mu * H > threshold
    q_sa = q_s.gather(2, actions.view(1, -1, 1).expand(q_s.shape[0], -1, 1)).squeeze(2)  # [N, B]
    td = q_sa - gamma * q_next.max(dim=2).values  # [N, B]
    reward = (p * td.T).sum(dim=1)
    return torch.where(undesirable, reward, torch.zeros_like(reward)), undesirable

"""The shield's decision for a batch of proposed actions (PAPER.md, steps 2–4)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

MODES: tuple[str, ...] = ("dqn", "priors", "shield")


@dataclass(frozen=True)
class ShieldParams:
    """The shield's settings; defaults are the paper's.

    mode: "dqn" (no shield), "priors" (action check at every step with probability rho),
        "shield" (state check, then action check).
    d_max: latent distance below which a state is unsafe (latent units, > 0).
    rho: probability that a flagged state is acted on, in [0, 1].
    k: nearest unsafe embeddings averaged into the distance D (≥ 1).
    buffer_size: capacity of the unsafe-embedding ring (≥ 1).
    tau: action threshold on Q_p(s, a) − mean_a' Q_p(s, a').
    """

    mode: str = "shield"
    d_max: float = 2.5
    rho: float = 0.95
    k: int = 10
    buffer_size: int = 100
    tau: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if not (self.d_max > 0 and math.isfinite(self.d_max)):
            raise ValueError(f"d_max must be a finite number > 0, got {self.d_max!r}")
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {self.rho!r}")
        for name in ("k", "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not math.isfinite(self.tau):
            raise ValueError(f"tau must be a finite number, got {self.tau!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_settings(cls, settings: dict) -> ShieldParams:
        """The parameters among `settings` (other keys, such as weight paths, ignored)."""
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__ if key in settings})


@dataclass
class Decision:
    """The shield's output for a batch of B steps."""

    actions: torch.Tensor  # [B] long: the executed (possibly replaced) actions
    flagged: torch.Tensor  # [B] bool: the action check ran (state flagged, or priors' draw)
    proposed_unsafe: torch.Tensor  # [B] bool: the check judged the proposed action unsafe
    replaced: torch.Tensor  # [B] bool: actions != proposed


def flag_states(D: torch.Tensor | None, params: ShieldParams, batch_size: int) -> torch.Tensor:
    """Which states the action check runs in: bool [B].

    Mode "shield": D < d_max and a uniform draw < rho (D is +inf while the buffer holds
    ≤ 3 embeddings). Mode "priors": a uniform draw < rho, everywhere. Mode "dqn": none.

    Args:
        D: latent distance to the unsafe buffer [B] (used in mode "shield" only).
        params: the shield's settings.
        batch_size: B.
    """
    if params.mode == "dqn":
        return torch.zeros(batch_size, dtype=torch.bool)
    draw = torch.rand(batch_size) < params.rho
    return draw & (D < params.d_max) if params.mode == "shield" else draw


def check_actions(proposed: torch.Tensor, flagged: torch.Tensor, q_p: torch.Tensor, tau: float) -> Decision:
    """Replace unsafe proposed actions in flagged states.

    Action a is unsafe when Q_p(s, a) − mean_a' Q_p(s, a') < tau. An unsafe proposed
    action is replaced by a uniformly random action that is not unsafe (kept when every
    action is unsafe, which needs tau > 0).

    Args:
        proposed: ε-greedy actions [B], long.
        flagged: states the check runs in [B], bool.
        q_p: prior Q-values of the flagged states only [F, A], F = flagged.sum().
        tau: the action threshold.
    """
    allowed = (q_p - q_p.mean(dim=1, keepdim=True)) >= tau  # [F, A]
    chosen = proposed[flagged]
    unsafe = ~allowed.gather(1, chosen[:, None]).squeeze(1)
    replace = unsafe & allowed.any(dim=1)
    uniform_allowed = torch.rand(allowed.shape).masked_fill(~allowed, -1.0).argmax(dim=1)
    actions = proposed.clone()
    actions[flagged] = torch.where(replace, uniform_allowed, chosen)
    proposed_unsafe = torch.zeros_like(flagged)
    proposed_unsafe[flagged] = unsafe
    replaced = torch.zeros_like(flagged)
    replaced[flagged] = replace
    return Decision(actions, flagged, proposed_unsafe, replaced)


def decide(
    proposed: torch.Tensor,
    q_p: torch.Tensor | None,
    D: torch.Tensor | None,
    params: ShieldParams,
) -> Decision:
    """The whole decision for B steps: `flag_states`, then `check_actions`.

    Args:
        proposed: ε-greedy actions [B], long.
        q_p: prior Q-values of all B states [B, A] (unused in mode "dqn").
        D: latent distance to the unsafe buffer [B] (mode "shield" only).
        params: the shield's settings.
    """
    flagged = flag_states(D, params, len(proposed))
    if not flagged.any():
        return Decision(proposed, flagged, flagged.clone(), flagged.clone())
    return check_actions(proposed, flagged, q_p[flagged], params.tau)

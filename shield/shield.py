"""The shield: the state check, the action check and the unsafe buffer, on batches of steps.

`Shield` holds everything the method needs at acting time: its settings
(`ShieldParams`), the frozen encoder f_θ, the frozen prior Q-network Q_p and the buffer of
unsafe embeddings. Any training loop uses it the same way:

    decision = shield.decide(obs, proposed)   # before stepping the environment
    env.step(decision.actions)                # execute (and store) these actions
    shield.record_violation(obs_before_death) # after each lava death

The rules (mode "shield"):

1. State check: the state is flagged when the mean latent distance D from f_θ(s) to its
   k nearest unsafe embeddings is below the threshold (``d_max``, or as its
   ``d_max_rule`` sets it: `shield.threshold`) and a uniform draw is below ``rho``.
   The check is inactive (D = +inf) until *more than* 3 embeddings are stored.
2. Action check, in flagged states only: action a is unsafe when
   Q_p(s, a) − mean_a' Q_p(s, a') < ``tau``. An unsafe proposed action is replaced by a
   uniformly random action that is not unsafe (kept when every action is unsafe, which
   needs tau > 0).

Mode "priors" runs the action check in every state with probability ``rho``. Mode
"state_only" runs the state check alone: in a flagged state the proposed action counts as
unsafe, whatever it is, and is replaced by a uniformly random *other* action; Q_p is never
used. Mode "dqn" never acts. Random draws come from ``generator`` (torch's global
generator when None), in a fixed order: the rho draws [B], then the replacement draws [F, A].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from shield.envs import FRAME, NUM_ACTIONS
from shield.memo import FrozenMemo
from shield.settings import ACTION_CHECK_MODES, STATE_CHECK_MODES, ShieldParams
from shield.threshold import AdaptiveThreshold, CappedThreshold
from shield.unsafe_buffer import UnsafeBuffer
from shield.weights import WeightFiles, load_frozen


@dataclass
class Decision:
    """The shield's output for a batch of B steps."""

    actions: torch.Tensor  # [B] long: the executed (possibly replaced) actions
    flagged: torch.Tensor  # [B] bool: the shield acted on the state (state flagged, or priors' draw)
    proposed_unsafe: torch.Tensor  # [B] bool: the proposed action judged unsafe (state_only: every flagged one)
    replaced: torch.Tensor  # [B] bool: actions != proposed
    distance: torch.Tensor  # [B] float: D (latent units; +inf without a state check)
    d_max: float  # the state check's threshold for these steps (latent units)


def check_actions(
    proposed: torch.Tensor, q_p: torch.Tensor, tau: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The action check on F flagged states.

    Args:
        proposed: proposed actions [F], long.
        q_p: prior Q-values [F, A].
        tau: the action threshold.
        generator: source of the replacement draws [F, A].

    Returns:
        (actions [F], proposed_unsafe [F] bool, replaced [F] bool).
    """
    allowed = (q_p - q_p.mean(dim=1, keepdim=True)) >= tau  # [F, A]
    unsafe = ~allowed.gather(1, proposed[:, None]).squeeze(1)
    replace = unsafe & allowed.any(dim=1)
    return torch.where(replace, uniform_choice(allowed, generator), proposed), unsafe, replace


def other_actions(proposed: torch.Tensor, num_actions: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The state check alone ("state_only") on F flagged states: each proposed action [F]
    (long) replaced by one drawn uniformly from the `num_actions` − 1 others; [F] long."""
    others = torch.ones(len(proposed), num_actions, dtype=torch.bool)
    others[torch.arange(len(proposed)), proposed] = False
    return uniform_choice(others, generator)


def uniform_choice(allowed: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row drawn uniformly among the row's True entries of `allowed` [F, A]
    (any row with none gives an arbitrary index); [F] long. Draws [F, A] uniforms."""
    draws = torch.rand(allowed.shape, generator=generator)
    return draws.masked_fill(~allowed, -1.0).argmax(dim=1)


class Shield:
    """The shield of one acting process (see module docstring).

    Not an `nn.Module`: its networks are frozen and its buffer is filled while acting, so
    nothing in it is trained or synchronised with a learner. Being frozen, each network
    runs once per distinct observation (`shield.memo.FrozenMemo`); decisions are made on CPU.

    Args:
        params: the settings.
        encoder: frozen f_θ, observations [B, H, W, C] uint8 → latents [B, latent_dim]
            (required in mode "shield").
        prior_q: frozen Q_p, observations → Q-values [B, A] (modes "priors", "shield").
        generator: source of the random draws (torch's global one when None).
        num_actions: A, the actions a "state_only" replacement is drawn from.
    """

    def __init__(
        self,
        params: ShieldParams,
        encoder: nn.Module | None = None,
        prior_q: nn.Module | None = None,
        generator: torch.Generator | None = None,
        num_actions: int = NUM_ACTIONS,
    ):
        if params.mode in STATE_CHECK_MODES and encoder is None:
            raise ValueError(f"mode {params.mode!r} needs an encoder")
        if params.mode in ACTION_CHECK_MODES and prior_q is None:
            raise ValueError(f"mode {params.mode!r} needs a prior Q-network")
        self.params = params
        self.num_actions = num_actions
        self.encoder = encoder
        self.prior_q = prior_q
        self.generator = generator
        # Both networks are frozen: each distinct observation is run through them once.
        self.latents = FrozenMemo(encoder) if encoder is not None else None
        self.prior_values = FrozenMemo(prior_q) if prior_q is not None else None
        latent_dim = encoder.latent_dim if encoder is not None else 1
        self.unsafe_buffer = UnsafeBuffer(params.buffer_size, latent_dim, params.buffer_rule)
        self.adaptive: AdaptiveThreshold | None = None  # a moving threshold ("adaptive", "capped")
        if params.d_max_rule == "adaptive":
            self.adaptive = AdaptiveThreshold(params.d_max_start, params.adaptive_recall, params.adaptive_flag_rate)
        elif params.d_max_rule == "capped":
            self.adaptive = CappedThreshold(params.d_max_start, params.adaptive_flag_rate)

    @property
    def d_max(self) -> float:
        """The state check's threshold now (latent units): ``params.d_max_start`` unless
        the rule is "adaptive" or "capped" (`shield.threshold`)."""
        return self.adaptive.value if self.adaptive is not None else self.params.d_max_start

    @classmethod
    def load(
        cls,
        params: ShieldParams,
        weights: WeightFiles,
        obs_kind: str,
        generator: torch.Generator | None = None,
        num_actions: int = NUM_ACTIONS,
        side: int = FRAME,
    ) -> Shield:
        """The shield of `params` with the frozen networks its mode uses, from `weights`
        (the encoder trained with ``params.margin``), for `num_actions` actions on a frame
        of `side` cells (`shield.envs.grid_side`)."""
        used = weights.used_by(params)
        encoder = load_frozen(used.encoder(params.margin), "encoder", obs_kind, side=side) if used.encoders else None
        prior_q = (
            load_frozen(used.prior_q, "prior_q", obs_kind, side=side) if params.mode in ACTION_CHECK_MODES else None
        )
        return cls(params, encoder, prior_q, generator, num_actions)

    @torch.no_grad()
    def distance(self, obs: torch.Tensor) -> torch.Tensor:
        """D [B] of observations [B, ...]: +inf while the state check is inactive."""
        if self.params.mode not in STATE_CHECK_MODES or not self.unsafe_buffer.active:
            return torch.full((len(obs),), float("inf"))
        return self.unsafe_buffer.distance(self.latents(obs), self.params.k)

    @torch.no_grad()
    def decide(self, obs: torch.Tensor, proposed: torch.Tensor) -> Decision:
        """The executed actions for B steps.

        Args:
            obs: observations [B, H, W, C], uint8.
            proposed: the agent's (ε-greedy) actions [B], long.
        """
        params, B = self.params, len(proposed)
        D, d_max = self.distance(obs), self.d_max
        if params.mode == "dqn":
            flagged = torch.zeros(B, dtype=torch.bool)
        else:
            flagged = torch.rand(B, generator=self.generator) < params.rho
            if params.mode in STATE_CHECK_MODES:
                flagged &= D < d_max
                if self.adaptive is not None and self.unsafe_buffer.active:
                    self.adaptive.observe_states(D.numpy())
        actions, unsafe, replaced = proposed, torch.zeros_like(flagged), torch.zeros_like(flagged)
        if flagged.any():
            if params.mode == "state_only":  # every proposal in a flagged state counts as unsafe
                chosen = other_actions(proposed[flagged], self.num_actions, self.generator)
                unsafe_f = replaced_f = torch.ones(len(chosen), dtype=torch.bool)
            else:  # Q_p only where the action check runs
                chosen, unsafe_f, replaced_f = check_actions(
                    proposed[flagged], self.prior_values(obs[flagged]), params.tau, self.generator
                )
            actions = proposed.clone()
            actions[flagged], unsafe[flagged], replaced[flagged] = chosen, unsafe_f, replaced_f
        return Decision(actions, flagged, unsafe, replaced, D, d_max)

    def get_state(self) -> dict:
        """What its future decisions depend on besides the frozen networks: the unsafe
        buffer's rows and write position (`UnsafeBuffer.get_state`), the adaptive
        threshold, the generator's state."""
        return self.unsafe_buffer.get_state() | {
            "adaptive": copy.deepcopy(self.adaptive),
            "generator": self.generator.get_state() if self.generator is not None else None,
        }

    def set_state(self, state: dict) -> None:
        """Restore `get_state`'s output (a shield of the same settings)."""
        self.unsafe_buffer.set_state(state)
        self.adaptive = copy.deepcopy(state["adaptive"])
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(state["generator"])

    @torch.no_grad()
    def record_violation(self, obs: torch.Tensor) -> None:
        """Store the embedding of `obs` [H, W, C], the state just before a lava death."""
        if self.encoder is None:
            return
        z = self.latents(torch.as_tensor(obs)[None])
        if self.adaptive is not None and self.unsafe_buffer.active:
            self.adaptive.observe_unsafe(float(self.unsafe_buffer.distance(z, self.params.k)[0]))
        self.unsafe_buffer.add(z)

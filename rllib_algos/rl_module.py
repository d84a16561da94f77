"""RLModules: the paper's plain Q-network, and the same network with the shield in front.

`PaperDQNModule` is RLlib's default DQN module with the paper's network instead of the
catalog's (no dueling heads, "valid" convolutions; see `shield.networks.QNetwork`). It
takes raw uint8 observations and casts them itself, so replay keeps uint8.

`ShieldedDQNModule` overrides only the exploration forward: it calls the parent for the
ε-greedy actions and lets the shield replace the unsafe ones. Whatever it returns in
``Columns.ACTIONS`` is both sent to the environment and stored in the episode, hence in
replay, so the executed and the stored action are the same. It requires observations of
`shield.envs.make_env` (9×9×3 symbolic or 84×84×3 pixels).
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_NEXT_PREDS, QF_PREDS, QF_TARGET_NEXT_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.utils.schedules.scheduler import Scheduler

from rllib_algos.metrics import pack_decisions
from shield.decision import ShieldParams, check_actions, flag_states
from shield.envs import OBS_KINDS, obs_shape
from shield.networks import QNetwork
from shield.unsafe_buffer import UnsafeBuffer
from shield.weights import load_frozen

# The extra model output, one int per step (`rllib_algos.metrics.pack_decisions`), read by
# `ShieldCallbacks`.
SHIELD_DECISIONS = "shield_decisions"


def obs_kind_of(shape: tuple[int, ...]) -> str:
    """The observation kind ("symbolic" or "pixels") whose shape is `shape`."""
    for kind in OBS_KINDS:
        if tuple(shape) == obs_shape(kind):
            return kind
    raise ValueError(
        f"observation shape {tuple(shape)} is neither symbolic {obs_shape('symbolic')} "
        f"nor pixels {obs_shape('pixels')}: build the env with shield.envs.make_env"
    )


def encoder_path_of(shield_config: dict) -> str | None:
    """The encoder file of a shield config: ``encoder_path`` itself, or, when that is a
    dict {margin: path} (a search over margins), the entry for ``margin``."""
    path = shield_config.get("encoder_path")
    if not isinstance(path, dict):
        return path
    margin = shield_config.get("margin")
    key = None if margin is None else str(float(margin))
    if key not in path:
        raise ValueError(f"margin {margin!r} has no encoder in encoder_path; available margins: {sorted(path)}")
    return path[key]


class PaperDQNModule(DefaultDQNTorchRLModule):
    """RLlib's DQN module with the paper's Q-network (see module docstring)."""

    def setup(self) -> None:
        self.uses_dueling = False
        self.uses_double_q = bool(self.model_config.get("double_q", True))
        self.num_atoms = 1
        self.epsilon_schedule = Scheduler(fixed_value_or_schedule=self.model_config["epsilon"], framework="torch")
        self.obs_kind = obs_kind_of(self.observation_space.shape)
        q = QNetwork(self.obs_kind, int(self.action_space.n))
        self.encoder, self.af = q.torso, q.head

    def train(self, mode: bool = True) -> PaperDQNModule:
        """Switch mode only when it changes: RLlib calls this around every forward pass, and
        the recursive switch cost ~3% of a training step (the networks have no dropout or
        batch norm, so the mode changes no output)."""
        return self if mode == self.training else super().train(mode)

    def _qf_forward_helper(self, batch: dict, encoder: torch.nn.Module, head: torch.nn.Module) -> dict:
        return {QF_PREDS: head(encoder(batch[Columns.OBS]))}

    def _forward_train(self, batch: dict) -> dict:
        """Q(s) with gradients; Q(s') (double-Q argmax) and Q_target(s') without.

        RLlib's version runs s and s' through the online network as one batch of 2B with
        gradients, then discards the gradient of the s' half: the same outputs at about
        30% more compute per update.
        """
        if self.inference_only:
            raise RuntimeError("the inference-only module cannot be trained")
        next_batch = {Columns.OBS: batch[Columns.NEXT_OBS]}
        output = {QF_PREDS: self.compute_q_values({Columns.OBS: batch[Columns.OBS]})[QF_PREDS]}
        with torch.no_grad():
            if self.uses_double_q:
                output[QF_NEXT_PREDS] = self.compute_q_values(next_batch)[QF_PREDS]
            output[QF_TARGET_NEXT_PREDS] = self.forward_target(next_batch)[QF_PREDS]
        return output


class ShieldedDQNModule(PaperDQNModule):
    """The paper's Q-network whose exploration the shield filters.

    Requires ``model_config["shield"]``: the `ShieldParams` fields plus ``encoder_path``
    (mode "shield") and ``prior_q_path`` (modes "priors" and "shield"). The frozen encoder
    and Q_p are attached outside the module's parameters, so they are not trained,
    synchronised or checkpointed; the unsafe buffer starts empty in every process.
    """

    def setup(self) -> None:
        super().setup()
        cfg = self.model_config["shield"]
        self.shield_params = ShieldParams.from_settings(cfg)
        encoder_path, prior_q_path = encoder_path_of(cfg), cfg.get("prior_q_path")
        encoder, prior_q = self.frozen_networks(encoder_path, prior_q_path)
        object.__setattr__(self, "frozen_encoder", encoder)
        object.__setattr__(self, "prior_q", prior_q)
        latent_dim = encoder.latent_dim if encoder is not None else 1
        object.__setattr__(self, "unsafe_buffer", UnsafeBuffer(self.shield_params.buffer_size, latent_dim))

    def frozen_networks(
        self, encoder_path: str | None, prior_q_path: str | None
    ) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
        """Load (f_θ, Q_p) for the shield mode; None where the mode does not use one.

        Attached with `object.__setattr__`, outside the module's parameters and state.
        """
        mode = self.shield_params.mode
        encoder = load_frozen(encoder_path, "encoder", self.obs_kind) if mode == "shield" else None
        prior_q = (
            load_frozen(prior_q_path, "prior_q", self.obs_kind, num_actions=int(self.action_space.n))
            if mode != "dqn"
            else None
        )
        return encoder, prior_q

    @torch.no_grad()
    def record_violation(self, obs: np.ndarray) -> None:
        """Store the embedding of `obs` [H, W, C], the state before a lava death."""
        if self.frozen_encoder is not None:
            self.unsafe_buffer.add(self.frozen_encoder(torch.as_tensor(obs)[None]))

    @torch.no_grad()
    def _forward_exploration(self, batch: dict, t: int) -> dict:
        out = super()._forward_exploration(batch, t)
        params, proposed = self.shield_params, out[Columns.ACTIONS]
        obs = batch[Columns.OBS]
        D = None
        if params.mode == "shield":
            D = torch.full(proposed.shape, float("inf"))
            if self.unsafe_buffer.active:
                D = self.unsafe_buffer.distance(self.frozen_encoder(obs), params.k)
        flagged = flag_states(D, params, len(proposed))
        if flagged.any():  # Q_p only where the action check runs
            decision = check_actions(proposed, flagged, self.prior_q(obs[flagged]), params.tau)
            out[Columns.ACTIONS] = decision.actions
            proposed_unsafe, replaced = decision.proposed_unsafe, decision.replaced
        else:
            proposed_unsafe = replaced = flagged
        out[SHIELD_DECISIONS] = pack_decisions(proposed, flagged, proposed_unsafe, replaced)
        return out

"""RLModules: the paper's plain Q-network, and the same network with the shield in front.

`PaperDQNModule` is RLlib's default DQN module with the paper's network instead of the
catalog's (no dueling heads, "valid" convolutions; see `shield.networks.QNetwork`). It
takes raw uint8 observations and casts them itself, so replay keeps uint8.

`ShieldedDQNModule` overrides only the exploration forward: it calls the parent for the
ε-greedy actions and lets its `shield.shield.Shield` replace the unsafe ones. Whatever it returns in
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
from ray.rllib.utils.annotations import override
from ray.rllib.utils.schedules.scheduler import Scheduler

from rllib_algos.metrics import pack_decisions
from shield.envs import FRAME, obs_shape
from shield.networks import QNetwork
from shield.shield import Shield
from shield.weights import WeightFiles

# The extra model output, one int per step (`rllib_algos.metrics.pack_decisions`), read by
# `ShieldCallbacks`.
SHIELD_DECISIONS = "shield_decisions"
# The latent distance D of each step (+inf where no state check ran), floats [B], read by
# `ShieldCallbacks` for distance_q10/q50/q90.
SHIELD_DISTANCE = "shield_distance"


def obs_kind_of(shape: tuple[int, ...]) -> tuple[str, int]:
    """The observation kind ("symbolic" or "pixels") whose shape is `shape`, and the side
    of its frame in cells (`shield.envs.grid_side`)."""
    if tuple(shape) == obs_shape("pixels"):
        return "pixels", FRAME
    side = int(shape[0]) if len(shape) == 3 else 0
    if tuple(shape) == obs_shape("symbolic", side) and side >= FRAME:
        return "symbolic", side
    raise ValueError(
        f"observation shape {tuple(shape)} is neither symbolic (S, S, 3) with S >= {FRAME} "
        f"nor pixels {obs_shape('pixels')}: build the env with shield.envs.make_env"
    )


class PaperDQNModule(DefaultDQNTorchRLModule):
    """RLlib's DQN module with the paper's Q-network (see module docstring)."""

    @override(DefaultDQNTorchRLModule)
    def setup(self) -> None:
        """Build the paper's Q-network as RLlib's ``encoder`` (torso) and ``af`` (head), so
        RLlib's target networks, inference and weight sync work on it unchanged."""
        self.uses_dueling = False
        self.uses_double_q = bool(self.model_config.get("double_q", True))
        self.num_atoms = 1
        self.epsilon_schedule = Scheduler(fixed_value_or_schedule=self.model_config["epsilon"], framework="torch")
        self.obs_kind, self.side = obs_kind_of(self.observation_space.shape)
        q = QNetwork(self.obs_kind, int(self.action_space.n), self.side)
        self.encoder, self.af = q.torso, q.head
        if self.inference_only:  # an EnvRunner's copy: acts only (see `train`)
            self.eval()

    @override(DefaultDQNTorchRLModule)
    def train(self, mode: bool = True) -> PaperDQNModule:
        """Switch mode only when it changes: RLlib switches to eval mode and back around
        every acting forward pass of a module in training mode, and the recursive switch
        cost ~3% of a training step; an EnvRunner's (inference-only) module therefore stays
        in eval mode. The networks have no dropout or batch norm: the mode changes no output."""
        return self if mode == self.training else super().train(mode)

    @override(DefaultDQNTorchRLModule)
    def _qf_forward_helper(self, batch: dict, encoder: torch.nn.Module, head: torch.nn.Module) -> dict:
        """Q-values [B, A] of ``batch[OBS]`` (uint8) through `encoder` and `head` (online or target)."""
        return {QF_PREDS: head(encoder(batch[Columns.OBS]))}

    @override(DefaultDQNTorchRLModule)
    @torch.no_grad()
    def _forward_exploration(self, batch: dict, t: int) -> dict:
        """RLlib's ε-greedy actions [B] from the same random draws in the same order (a
        multinomial over the actions, then a uniform per row: the same actions for the same
        torch seed), without building an action distribution per step."""
        q = self.compute_q_values(batch)[QF_PREDS]  # [B, A]
        self.epsilon_schedule.update(t)
        epsilon = self.epsilon_schedule.get_current_value()
        random_actions = torch.multinomial((torch.nan_to_num(q, neginf=0.0) != 0.0).float(), num_samples=1)
        explore = torch.rand((q.shape[0],), device=q.device) < epsilon
        return {Columns.ACTIONS: torch.where(explore, random_actions.squeeze(1), q.argmax(dim=1))}

    @override(DefaultDQNTorchRLModule)
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
    """The paper's Q-network whose exploration a `shield.shield.Shield` filters.

    Requires ``model_config["shield"]``, a `ShieldParams`, and ``model_config["shield_weights"]``,
    a `WeightFiles` (Q_p for modes "priors" and "shield", the encoder of ``margin`` for
    "state_only" and "shield"). The shield lives outside the module's parameters and state: its networks
    are frozen (not trained, synchronised or part of the module's state); its unsafe buffer
    starts empty in every process and is checkpointed with the sampling state
    (`resume_state`, `rllib_algos.resume`).
    """

    @override(PaperDQNModule)
    def setup(self) -> None:
        """Build the Q-network (parent), then this process's shield (`make_shield`)."""
        super().setup()
        # Built in every copy, the Learner's too (which never explores): building it draws
        # from torch's global generator, so skipping it would change every later draw.
        self.shield = self.make_shield()
        # The state check's threshold at the latest decision (`ShieldCallbacks`' d_max_effective).
        self.last_d_max = float("nan")

    def make_shield(self) -> Shield:
        """The shield of ``model_config["shield"]`` for this module's observations."""
        weights = self.model_config.get("shield_weights") or WeightFiles()
        return Shield.load(
            self.model_config["shield"], weights, self.obs_kind, num_actions=int(self.action_space.n), side=self.side
        )

    def record_violation(self, obs: np.ndarray) -> None:
        """Store the embedding of `obs` [H, W, C], the state before a lava death
        (called by `ShieldCallbacks` in the EnvRunner that owns this module)."""
        self.shield.record_violation(obs)

    def resume_state(self) -> dict:
        """The shield's state (`Shield.get_state`), which checkpoints carry
        (`rllib_algos.resume`): its buffer lives outside the module's parameters."""
        return self.shield.get_state()

    def set_resume_state(self, state: dict) -> None:
        """Restore `resume_state`'s output into this process's shield."""
        self.shield.set_state(state)

    @override(PaperDQNModule)
    @torch.no_grad()
    def _forward_exploration(self, batch: dict, t: int) -> dict:
        """RLlib's ε-greedy actions, filtered by the shield.

        Contract: ``Columns.ACTIONS`` [B] holds the executed actions (sent to the env and
        stored in the episode, hence in replay); ``SHIELD_DECISIONS`` [B] packs what the
        shield decided per step and ``SHIELD_DISTANCE`` [B] its distances, for
        `ShieldCallbacks`; ``last_d_max`` becomes the threshold these steps were checked with.
        """
        out = super()._forward_exploration(batch, t)
        # The shield works on CPU whatever the module's device: its frozen networks run once
        # per distinct observation (`shield.memo`), and its draws come from a CPU generator.
        proposed = out[Columns.ACTIONS].cpu()
        decision = self.shield.decide(batch[Columns.OBS].cpu(), proposed)
        out[Columns.ACTIONS] = decision.actions
        out[SHIELD_DECISIONS] = pack_decisions(proposed, decision.flagged, decision.proposed_unsafe, decision.replaced)
        out[SHIELD_DISTANCE] = decision.distance
        self.last_d_max = decision.d_max
        return out

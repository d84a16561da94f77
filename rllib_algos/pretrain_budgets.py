"""What each pretraining job computes: budgets, tasks and the artifact specs they define.

Pure data (no Ray, no RLlib), so a study's plan can name the artifacts it will use before
anything starts. The jobs that build them are in `rllib_algos.pretrain`.

- ``source_q``: a DQN on one source task (fixed layout `SOURCE_LAYOUT_SEED`);
- ``prior_q``: Q_p, a DQN on the pseudo-reward of the four source Q-networks, on the
  source tasks' own layouts;
- ``encoder``: the contrastive auto-encoder for one margin α, on random exploration of
  random layouts of LavaCrossingS9N1, S9N2 and S9N3 (`ENCODER_TRAIN_ENVS`), with the
  paper's margin loss; `EncoderSetting` chooses another latent loss or other tasks.

The specs hold the budget's numbers, so redefining a budget changes the artifacts' keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from shield.artifacts import ArtifactSpec
from shield.contrastive import DEFAULT_LATENT_LOSS, latent_loss
from shield.envs import FRAME, check_env_id, check_obs_kind, grid_side
from shield.networks import QTorso
from shield.settings import PAPER_SHIELD


@dataclass(frozen=True)
class PretrainBudget:
    """Environment steps and updates of each pretraining job."""

    source_steps: int  # per source-task DQN
    prior_steps: int  # Q_p's DQN on the pseudo-reward
    encoder_data_steps: int  # random exploration for the encoder's data
    encoder_updates: int  # auto-encoder gradient steps (batch 128)
    eval_steps: int  # random exploration per evaluation environment
    pixel_keep_safe: float = 0.25  # fraction of safe pixel observations kept in memory


PRETRAIN_BUDGETS = {
    "smoke": PretrainBudget(1_500, 1_500, 4_000, 60, 3_000),
    "quick": PretrainBudget(200_000, 60_000, 60_000, 3_000, 20_000),
    "paper": PretrainBudget(200_000, 250_000, 200_000, 20_000, 50_000),
}
BUDGET_NAMES = tuple(PRETRAIN_BUDGETS)

SOURCE_TASKS = (
    "MiniGrid-LavaCrossingS9N1-v0",
    "MiniGrid-LavaCrossingS9N2-v0",
    "MiniGrid-SimpleCrossingS9N1-v0",
    "MiniGrid-SimpleCrossingS9N2-v0",
)
# The encoder learns on random layouts of all three LavaCrossing tasks: trained on S9N1 alone
# (the paper), the safe states of S9N2/S9N3 fall near the unsafe embeddings (median D of
# safe states 3.3 on S9N1, 1.4 on S9N2, 0.4 on S9N3 at margin 10), so no fixed d_max works
# on all three; trained on the three, the scale holds (3.3 / 3.5 / 3.4). docs/method.md.
ENCODER_TRAIN_ENVS = ("MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N2-v0", "MiniGrid-LavaCrossingS9N3-v0")
EVAL_ENVS = ("MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N2-v0", "MiniGrid-LavaCrossingS9N3-v0")
SOURCE_LAYOUT_SEED = 0
TRAIN_SEED = 0
EVAL_SEED = 10_000  # layouts drawn with this seed were never trained on
LAVA_BOOTSTRAPS = ("reset", "terminal")
DEFAULT_LAVA_BOOTSTRAP = "reset"


def check_budget(budget: str) -> PretrainBudget:
    """The pretraining budget called `budget`; ValueError naming the choices otherwise."""
    if budget not in PRETRAIN_BUDGETS:
        raise ValueError(f"pretraining budget must be one of {list(PRETRAIN_BUDGETS)}, got {budget!r}")
    return PRETRAIN_BUDGETS[budget]


def source_spec(env_id: str, obs: str, budget: str) -> ArtifactSpec:
    """A source DQN is named by its steps, not by the budget: budgets that train their
    sources equally long (quick and paper) share them."""
    steps = check_budget(budget).source_steps
    return ArtifactSpec.make(
        "source_q",
        obs,
        f"{steps}steps",
        env_id=env_id,
        layout_seed=SOURCE_LAYOUT_SEED,
        env_steps=steps,
        network=QTorso.ARCHITECTURE[check_obs_kind(obs)],
    )


def prior_spec(obs: str, budget: str, lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP) -> ArtifactSpec:
    b = check_budget(budget)
    return ArtifactSpec.make(
        "prior_q",
        obs,
        budget,
        lava_bootstrap=lava_bootstrap,
        source_tasks=list(SOURCE_TASKS),
        layout_seed=SOURCE_LAYOUT_SEED,
        source_steps=b.source_steps,
        env_steps=b.prior_steps,
        network=QTorso.ARCHITECTURE[check_obs_kind(obs)],
    )


@dataclass(frozen=True)
class EncoderSetting:
    """How the encoder is pretrained, beyond its margin and budget.

    latent_loss: the loss that separates safe from unsafe latents (`shield.contrastive`:
        "margin", the paper's; "triplet"; "supcon").
    encoder_envs: the tasks on whose random layouts it learns (MiniGrid ids; the default
        is the three LavaCrossing tasks, the paper's protocol is S9N1 alone).
    """

    latent_loss: str = DEFAULT_LATENT_LOSS
    encoder_envs: tuple[str, ...] = ENCODER_TRAIN_ENVS

    def __post_init__(self) -> None:
        latent_loss(self.latent_loss)
        object.__setattr__(self, "encoder_envs", tuple(self.encoder_envs))
        if not self.encoder_envs:
            raise ValueError("encoder_envs must name at least one environment")
        for env_id in self.encoder_envs:
            check_env_id(env_id)
            if grid_side(env_id) != FRAME:
                raise ValueError(
                    f"encoder_envs: {env_id} is larger than the {FRAME}×{FRAME} frame the encoder is built for; "
                    f"pick tasks up to {FRAME}×{FRAME}"
                )
        if len(set(self.encoder_envs)) != len(self.encoder_envs):
            raise ValueError(f"encoder_envs names an environment twice: {list(self.encoder_envs)}")

    @property
    def variant(self) -> str:
        """How it differs from the default, for the artifact's name ("" for the default):
        "triplet", "onS9N1", "supcon-onS9N1+S9N2"."""
        parts = [] if self.latent_loss == DEFAULT_LATENT_LOSS else [self.latent_loss]
        if self.encoder_envs != ENCODER_TRAIN_ENVS:
            short = (e.removeprefix("MiniGrid-").removesuffix("-v0") for e in self.encoder_envs)
            parts.append("on" + "+".join(s.removeprefix("LavaCrossing") for s in short))
        return "-".join(parts)


DEFAULT_ENCODER = EncoderSetting()


def encoder_spec(
    obs: str, budget: str, margin: float = PAPER_SHIELD.margin, setting: EncoderSetting = DEFAULT_ENCODER
) -> ArtifactSpec:
    """The encoder of `margin` pretrained at `budget` as `setting` says. The default setting
    adds no field to the spec, so that encoders built before the setting existed keep their keys."""
    margin = float(margin)
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    b = check_budget(budget)
    variant = {"latent_loss": setting.latent_loss, "variant": setting.variant} if setting.variant else {}
    return ArtifactSpec.make(
        "encoder",
        obs,
        budget,
        margin=margin,
        train_envs=list(setting.encoder_envs),
        data_steps=b.encoder_data_steps,
        updates=b.encoder_updates,
        **variant,
    )

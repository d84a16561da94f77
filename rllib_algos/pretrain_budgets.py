"""What each pretraining job computes: budgets, tasks and the artifact specs they define.

Pure data (no Ray, no RLlib), so a study's plan can name the artifacts it will use before
anything starts. The jobs that build them are in `rllib_algos.pretrain`.

- ``source_q``: a DQN on one source task (fixed layout `SOURCE_LAYOUT_SEED`);
- ``prior_q``: Q_p, a DQN on the pseudo-reward of the four source Q-networks, on the
  source tasks' own layouts (the ``pseudo-reward`` route, the paper's); or, for pixels, a
  network taught the symbolic Q_p's values on the same states (the ``distilled`` route,
  `shield.distill`), minutes instead of hours on a CPU;
- ``encoder``: the contrastive auto-encoder for one margin α, on random exploration of
  random layouts of LavaCrossingS9N1, S9N2 and S9N3 (`ENCODER_TRAIN_ENVS`), with the
  paper's margin loss; `EncoderSetting` chooses another latent loss or other tasks.

The specs hold the budget's numbers, so redefining a budget changes the artifacts' keys.
"""

from __future__ import annotations

from collections.abc import Callable
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
    distill_steps: int = 60_000  # states the distilled pixel Q_p learns from
    distill_updates: int = 4_000  # its regression steps (batch 128)


PRETRAIN_BUDGETS = {
    "smoke": PretrainBudget(1_500, 1_500, 4_000, 60, 3_000, distill_steps=2_000, distill_updates=30),
    "quick": PretrainBudget(200_000, 60_000, 60_000, 3_000, 20_000),
    "paper": PretrainBudget(200_000, 250_000, 200_000, 20_000, 50_000, distill_steps=200_000, distill_updates=20_000),
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
PRIOR_ROUTES = ("pseudo-reward", "distilled")
# The distilled Q_p's states: random layouts of the source tasks and of the encoder's tasks.
DISTILL_ENVS = tuple(dict.fromkeys(SOURCE_TASKS + ENCODER_TRAIN_ENVS))


def default_prior_route(obs: str, budget: str) -> str:
    """The paper's route, but for pixels below the paper budget: there the distilled Q_p,
    since four pixel source DQNs and a pixel Q_p take hours on a CPU."""
    return "distilled" if check_obs_kind(obs) == "pixels" and budget != "paper" else "pseudo-reward"


def check_prior_route(route: str, obs: str) -> str:
    """`route` when it can build a Q_p for `obs`; ValueError saying what to pick otherwise."""
    if route not in PRIOR_ROUTES:
        raise ValueError(f"--prior-route must be one of {list(PRIOR_ROUTES)}, got {route!r}")
    if route == "distilled" and obs != "pixels":
        raise ValueError(
            "--prior-route distilled teaches a pixel Q_p from the symbolic one: "
            "with --obs symbolic pass --prior-route pseudo-reward"
        )
    return route


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


def prior_spec(
    obs: str, budget: str, lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP, route: str | None = None
) -> ArtifactSpec:
    """Q_p for `obs` at `budget`, built by `route` (default: `default_prior_route`). The
    pseudo-reward route adds no field to the spec, so its keys stay those of before routes."""
    b = check_budget(budget)
    route = check_prior_route(route or default_prior_route(obs, budget), obs)
    if route == "distilled":
        return ArtifactSpec.make(
            "prior_q",
            obs,
            budget,
            variant="distilled",
            teacher=prior_spec("symbolic", budget, lava_bootstrap).key,
            distill_envs=list(DISTILL_ENVS),
            distill_steps=b.distill_steps,
            updates=b.distill_updates,
            network=QTorso.ARCHITECTURE[obs],
        )
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


DQN_UPDATES_PER_STEP = 0.1  # PaperDQN trains a batch of 128 per 10 sampled steps (training_intensity 12.8)


@dataclass(frozen=True)
class PretrainJob:
    """One artifact to build and the work it takes.

    stage: jobs of stage 0 run in parallel first (source DQNs, encoders, a distilled Q_p's
    teacher's sources), then stage 1 (Q_p, or a teacher), then stage 2 (a distilled Q_p);
    env_steps: environment steps taken (DQN training or data collection); q_updates: DQN
    updates of a batch of 128; encoder_updates: auto-encoder updates; distill_updates:
    the distilled Q_p's regression updates.
    """

    spec: ArtifactSpec
    stage: int
    env_steps: int
    q_updates: int = 0
    encoder_updates: int = 0
    distill_updates: int = 0


def pretrain_jobs(
    obs: str,
    budget: str,
    margins: tuple[float, ...],
    is_ready: Callable[[ArtifactSpec], bool],
    lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP,
    encoder: EncoderSetting = DEFAULT_ENCODER,
    prior_route: str | None = None,
) -> list[PretrainJob]:
    """The jobs `rllib_algos.pretrain.ensure_artifacts` would run: the missing artifacts
    (those `is_ready` rejects) and what each takes, without building anything."""
    b = check_budget(budget)
    jobs: list[PretrainJob] = []

    def pseudo_reward_prior(spec: ArtifactSpec, stage: int) -> None:
        if is_ready(spec):
            return
        for env_id in SOURCE_TASKS:
            source = source_spec(env_id, spec.obs, budget)
            if not is_ready(source):
                jobs.append(PretrainJob(source, stage - 1, b.source_steps, int(b.source_steps * DQN_UPDATES_PER_STEP)))
        jobs.append(PretrainJob(spec, stage, b.prior_steps, int(b.prior_steps * DQN_UPDATES_PER_STEP)))

    prior = prior_spec(obs, budget, lava_bootstrap, prior_route)
    if prior.config.get("variant") == "distilled":
        if not is_ready(prior):
            pseudo_reward_prior(prior_spec("symbolic", budget, lava_bootstrap, "pseudo-reward"), stage=1)
            jobs.append(PretrainJob(prior, 2, b.distill_steps, distill_updates=b.distill_updates))
    else:
        pseudo_reward_prior(prior, stage=1)
    for margin in margins:
        spec = encoder_spec(obs, budget, margin, encoder)
        if not is_ready(spec):
            jobs.append(PretrainJob(spec, 0, b.encoder_data_steps, encoder_updates=b.encoder_updates))
    return jobs

"""Pretraining jobs: source-task DQNs → Q_p, and contrastive encoders, as cached artifacts.

`ensure_artifacts` returns the weight files a sweep needs, building the missing ones as
Ray tasks (a cluster builds several in parallel) into an `ArtifactStore`:

- ``source_q``: RLlib DQN on one source task (fixed layout `SOURCE_LAYOUT_SEED`);
- ``prior_q``: RLlib DQN on the pseudo-reward of the four source Q-networks
  (`shield.pseudo_reward_env`), on the source tasks' own layouts: only there do the
  sources' Q-values mean anything (on other layouts a source trained on one layout rates
  forward-into-lava about as high as its best action);
- ``encoder``: the contrastive auto-encoder for one margin α, on random exploration of
  random LavaCrossingS9N1 layouts.

Quality figures are measured on layouts no artifact was trained on (`EVAL_SEED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

import numpy as np
import ray
import torch

from rllib_algos.artifacts import ArtifactSpec, ArtifactStore
from rllib_algos.envs import PSEUDO_REWARD_ENV
from rllib_algos.paper_dqn import PaperDQNConfig, for_budget, train_q_network
from shield.envs import check_obs_kind
from shield.networks import QTorso
from shield.pretrain_data import (
    PRETRAIN_BUDGETS,
    batched_forward,
    check_budget,
    encoder_auc,
    prior_q_quality,
    random_experience,
    train_autoencoder,
)
from shield.weights import load_frozen, save_frozen

BUDGET_NAMES = tuple(PRETRAIN_BUDGETS)

SOURCE_TASKS = (
    "MiniGrid-LavaCrossingS9N1-v0",
    "MiniGrid-LavaCrossingS9N2-v0",
    "MiniGrid-SimpleCrossingS9N1-v0",
    "MiniGrid-SimpleCrossingS9N2-v0",
)
ENCODER_TRAIN_ENVS = ("MiniGrid-LavaCrossingS9N1-v0",)
EVAL_ENVS = ("MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N2-v0", "MiniGrid-LavaCrossingS9N3-v0")
SOURCE_LAYOUT_SEED = 0
TRAIN_SEED = 0
EVAL_SEED = 10_000  # layouts drawn with this seed were never trained on
DEFAULT_MARGIN = 10.0
DEFAULT_LAVA_BOOTSTRAP = "reset"


# The specs hold the budget's numbers, so redefining a budget changes the artifacts' keys.


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


def encoder_spec(obs: str, budget: str, margin: float = DEFAULT_MARGIN) -> ArtifactSpec:
    margin = float(margin)
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    b = check_budget(budget)
    return ArtifactSpec.make(
        "encoder",
        obs,
        budget,
        margin=margin,
        train_envs=list(ENCODER_TRAIN_ENVS),
        data_steps=b.encoder_data_steps,
        updates=b.encoder_updates,
    )


Progress = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def _dqn_progress(name: str, total: int, progress: Progress) -> Callable[[int, dict], None]:
    def report(steps: int, result: dict) -> None:
        ret = result.get("env_runners", {}).get("episode_return_mean", float("nan"))
        progress(f"[{name}] {steps}/{total} env steps, return {ret:.3f}")

    return report


def build_source_q(spec: ArtifactSpec, store: ArtifactStore, progress: Progress = _print) -> str:
    """Train one source-task DQN (RLlib) and store its Q-network."""
    cfg = spec.config
    steps = cfg["env_steps"]
    config = for_budget(PaperDQNConfig(), steps).environment(
        cfg["env_id"], env_config={"obs": spec.obs, "layout_seed": cfg["layout_seed"]}
    )
    config = config.debugging(seed=TRAIN_SEED)
    q, record = train_q_network(config, steps, spec.obs, _dqn_progress(spec.key, steps, progress))
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "source_q", spec.obs, q)
    return str(store.commit(spec, staging, {"budget": {"source_steps": steps}, **record}))


def build_prior_q(spec: ArtifactSpec, store: ArtifactStore, *source_paths: str, progress: Progress = _print) -> str:
    """Train Q_p (RLlib DQN on the pseudo-reward) and measure it on held-out layouts."""
    budget = check_budget(spec.budget)
    env_config = {
        "obs": spec.obs,
        "env_ids": list(SOURCE_TASKS),
        "source_paths": list(source_paths),
        "lava_bootstrap": spec.config["lava_bootstrap"],
        "layout_seed": spec.config["layout_seed"],
    }
    config = for_budget(PaperDQNConfig(), budget.prior_steps).environment(PSEUDO_REWARD_ENV, env_config=env_config)
    config = config.debugging(seed=TRAIN_SEED)
    q, record = train_q_network(
        config, budget.prior_steps, spec.obs, _dqn_progress(spec.key, budget.prior_steps, progress)
    )
    quality = {
        env_id: prior_q_quality(q, random_experience([env_id], spec.obs, budget.eval_steps, EVAL_SEED))
        for env_id in EVAL_ENVS
    }
    progress(f"[{spec.key}] quality on held-out layouts: {quality}")
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "prior_q", spec.obs, q)
    return str(store.commit(spec, staging, {"budget": asdict(budget), "quality": quality, **record}))


def build_encoder(spec: ArtifactSpec, store: ArtifactStore, progress: Progress = _print) -> str:
    """Collect labelled experience, train the contrastive auto-encoder, measure its AUC."""
    budget = check_budget(spec.budget)
    keep = 1.0 if spec.obs == "symbolic" else budget.pixel_keep_safe
    start = time.perf_counter()
    torch.set_num_threads(1)
    data = random_experience(ENCODER_TRAIN_ENVS, spec.obs, budget.encoder_data_steps, TRAIN_SEED, keep_safe=keep)
    progress(f"[{spec.key}] {len(data)} observations, {int(data.unsafe.sum())} unsafe")
    model, record = train_autoencoder(
        data,
        spec.obs,
        spec.config["margin"],
        budget.encoder_updates,
        seed=TRAIN_SEED,
        progress=lambda step, loss: progress(f"[{spec.key}] update {step}/{budget.encoder_updates}, loss {loss:.4f}"),
    )
    evaluation = {env_id: random_experience([env_id], spec.obs, budget.eval_steps, EVAL_SEED) for env_id in EVAL_ENVS}
    quality = {env_id: {"roc_auc": encoder_auc(model.encoder, data)} for env_id, data in evaluation.items()}
    progress(f"[{spec.key}] ROC AUC on held-out layouts: {quality}")
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "encoder", spec.obs, model.encoder)
    plot_latents(model.encoder, evaluation, staging / "latent.png", title=spec.key)
    record |= {"train_s": time.perf_counter() - start, "observations": len(data), "unsafe": int(data.unsafe.sum())}
    return str(store.commit(spec, staging, {"budget": asdict(budget), "quality": quality, **record}))


@torch.no_grad()
def plot_latents(encoder: torch.nn.Module, evaluation: dict, path, title: str, per_env: int = 1500) -> None:
    """2-D PCA of the latents of held-out states, coloured by ground-truth safety."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(evaluation), figsize=(5 * len(evaluation), 4.5), squeeze=False)
    reference = None
    for ax, (env_id, data) in zip(axes[0], evaluation.items(), strict=True):
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(data))[:per_env]
        idx = np.union1d(idx, np.flatnonzero(data.lava_ahead)[:per_env])
        z = batched_forward(encoder, data.obs[idx])
        if reference is None:  # one projection for every panel
            mean = z.mean(dim=0)
            _, _, V = torch.pca_lowrank(z - mean, q=2, center=False)
            reference = (mean, V[:, :2])
        xy = ((z - reference[0]) @ reference[1]).numpy()
        ahead = data.lava_ahead[idx]
        ax.scatter(*xy[~ahead].T, s=4, alpha=0.4, label="safe (no lava ahead)")
        ax.scatter(*xy[ahead].T, s=6, alpha=0.7, c="tab:red", label="unsafe (lava ahead)")
        ax.set_title(env_id.replace("MiniGrid-", ""))
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Latent space, held-out layouts: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _remote(fn):
    return ray.remote(num_cpus=1, max_retries=1)(fn)


def ensure_artifacts(
    obs: str,
    budget: str,
    margins: Sequence[float] = (DEFAULT_MARGIN,),
    lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP,
    store: ArtifactStore | None = None,
    progress: Progress = _print,
) -> dict[str, str]:
    """Weight files for Q_p and one encoder per margin, building what is missing.

    Missing or corrupt artifacts are (re)built as Ray tasks, the four source DQNs and the
    encoders in parallel, then Q_p. Needs `ray.init()` only when something is built.

    Returns:
        {"prior_q_path": ..., "encoder_path:<margin>": ...} for every margin.
    """
    check_budget(budget)
    store = store or ArtifactStore()
    prior = prior_spec(obs, budget, lava_bootstrap)
    encoders = {float(m): encoder_spec(obs, budget, m) for m in margins}
    paths: dict[str, str] = {}
    pending: dict[str, ray.ObjectRef] = {}

    def ready(spec: ArtifactSpec) -> str | None:
        if store.is_ready(spec):
            progress(f"[{spec.key}] cached in {store.root}")
            return str(store.weights(spec))
        return None

    if (path := ready(prior)) is not None:
        paths["prior_q_path"] = path
    else:
        sources = []
        for env_id in SOURCE_TASKS:
            spec = source_spec(env_id, obs, budget)
            sources.append(ready(spec) or _remote(build_source_q).remote(spec, store))
        pending["prior_q_path"] = _remote(build_prior_q).remote(prior, store, *sources)
    for margin, spec in encoders.items():
        if (path := ready(spec)) is not None:
            paths[f"encoder_path:{margin}"] = path
        else:
            pending[f"encoder_path:{margin}"] = _remote(build_encoder).remote(spec, store)
    if pending:
        progress(f"building {len(pending)} artifact(s) as Ray tasks into {store.root}")
        paths |= dict(zip(pending, ray.get(list(pending.values())), strict=True))
    for name, path in paths.items():
        kind = "prior_q" if name == "prior_q_path" else "encoder"
        load_frozen(path, kind, obs)  # refuse an artifact that does not load
    return paths

"""Pretraining jobs: source-task DQNs → Q_p, and contrastive encoders, as cached artifacts.

`ensure_artifacts` returns the `WeightFiles` a study needs, building the missing ones as
Ray tasks (a cluster builds several in parallel) into an `ArtifactStore`. What each job
computes (budgets, tasks, specs) is in `rllib_algos.pretrain_budgets`:

- ``source_q``: RLlib DQN on one source task;
- ``prior_q``: RLlib DQN on the pseudo-reward of the four source Q-networks
  (`shield.pseudo_reward_env`), on the source tasks' own layouts: only there do the
  sources' Q-values mean anything (on other layouts a source trained on one layout rates
  forward-into-lava about as high as its best action);
- ``prior_q`` on the ``distilled`` route (pixels): a pixel network taught the symbolic
  Q_p's values on the same states (`shield.distill`), the symbolic Q_p built first if missing;
- ``encoder``: the contrastive auto-encoder for one margin α.

Quality figures are measured on layouts no artifact was trained on (`EVAL_SEED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

import ray
import torch
from ray.rllib.algorithms.dqn import DQNConfig

from rllib_algos.envs import PSEUDO_REWARD_ENV
from rllib_algos.paper_dqn import PaperDQNConfig, for_env_steps
from rllib_algos.pretrain_budgets import (
    DEFAULT_ENCODER,
    DEFAULT_LAVA_BOOTSTRAP,
    DISTILL_ENVS,
    EVAL_ENVS,
    EVAL_SEED,
    SOURCE_TASKS,
    TRAIN_SEED,
    EncoderSetting,
    check_budget,
    encoder_spec,
    pretrain_jobs,
    prior_spec,
    source_spec,
)
from shield.artifacts import ArtifactSpec, ArtifactStore
from shield.contrastive import DEFAULT_LATENT_LOSS
from shield.distill import distill_q, paired_experience
from shield.latent_plot import plot_latents, plot_operating_points
from shield.networks import QNetwork
from shield.pretrain_data import random_experience, train_autoencoder
from shield.quality import concatenated, encoder_quality, on_policy_walks, prior_q_quality
from shield.settings import PAPER_SHIELD
from shield.weights import WeightFiles, load_frozen, save_frozen


def train_q_network(
    config: DQNConfig,
    env_steps: int,
    obs_kind: str,
    progress: Callable[[int, dict], None] | None = None,
) -> tuple[QNetwork, dict]:
    """Train `config` for at least `env_steps` environment steps; return its Q-network.

    Returns:
        (QNetwork in eval mode, {"env_steps", "train_s", "return_mean"}).
    """
    algo = config.build_algo()
    start = time.perf_counter()
    try:
        steps, result = 0, {}
        while steps < env_steps:
            result = algo.train()
            steps = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
            if progress is not None:
                progress(steps, result)
        module = algo.get_module()
        q = QNetwork(obs_kind, int(module.action_space.n))
        q.torso.load_state_dict(module.encoder.state_dict())
        q.head.load_state_dict(module.af.state_dict())
    finally:
        algo.stop()
    q.eval().requires_grad_(False)
    return q, {
        "env_steps": steps,
        "train_s": time.perf_counter() - start,
        "return_mean": float(result.get("env_runners", {}).get("episode_return_mean", float("nan"))),
    }


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
    config = for_env_steps(PaperDQNConfig(), steps).environment(
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
    config = for_env_steps(PaperDQNConfig(), budget.prior_steps).environment(PSEUDO_REWARD_ENV, env_config=env_config)
    config = config.debugging(seed=TRAIN_SEED)
    q, record = train_q_network(
        config, budget.prior_steps, spec.obs, _dqn_progress(spec.key, budget.prior_steps, progress)
    )
    quality = {env_id: prior_q_figures(q, env_id, spec.obs, budget.eval_steps) for env_id in EVAL_ENVS}
    progress(f"[{spec.key}] quality on held-out layouts: {quality}")
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "prior_q", spec.obs, q)
    return str(store.commit(spec, staging, {"budget": asdict(budget), "quality": quality, **record}))


def build_distilled_prior(
    spec: ArtifactSpec, store: ArtifactStore, teacher_path: str, progress: Progress = _print
) -> str:
    """Teach a pixel Q_p the symbolic Q_p's values (`shield.distill`); measure both on
    the same held-out layouts."""
    budget = check_budget(spec.budget)
    start = time.perf_counter()
    torch.set_num_threads(1)
    teacher = load_frozen(teacher_path, "prior_q", "symbolic")
    states = paired_experience(DISTILL_ENVS, budget.distill_steps, TRAIN_SEED)
    progress(f"[{spec.key}] {len(states)} states from {len(DISTILL_ENVS)} tasks")
    student = QNetwork(spec.obs)
    record = distill_q(
        teacher,
        student,
        states,
        budget.distill_updates,
        seed=TRAIN_SEED,
        progress=lambda step, loss: progress(f"[{spec.key}] update {step}/{budget.distill_updates}, loss {loss:.4f}"),
    )
    del states
    quality = {env_id: prior_q_figures(student, env_id, spec.obs, budget.eval_steps) for env_id in EVAL_ENVS}
    teacher_quality = {env_id: prior_q_figures(teacher, env_id, "symbolic", budget.eval_steps) for env_id in EVAL_ENVS}
    progress(f"[{spec.key}] quality on held-out layouts: {quality}")
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "prior_q", spec.obs, student)
    record |= {"train_s": time.perf_counter() - start}
    extra = {"budget": asdict(budget), "quality": quality, "teacher_quality": teacher_quality, **record}
    return str(store.commit(spec, staging, extra))


def prior_q_figures(q: torch.nn.Module, env_id: str, obs: str, eval_steps: int) -> dict:
    """Q_p's manifest figures on one environment: `prior_q_quality` on random exploration,
    and under ``on_policy`` on the states of `on_policy_walks`' policy."""
    figures = prior_q_quality(q, random_experience([env_id], obs, eval_steps, EVAL_SEED))
    walks = on_policy_walks(env_id, obs)
    return figures | {"on_policy": prior_q_quality(q, concatenated([walk for _, walk in walks]))}


def build_encoder(spec: ArtifactSpec, store: ArtifactStore, progress: Progress = _print) -> str:
    """Collect labelled experience, train the contrastive auto-encoder, measure its AUC."""
    budget = check_budget(spec.budget)
    keep = 1.0 if spec.obs == "symbolic" else budget.pixel_keep_safe
    start = time.perf_counter()
    torch.set_num_threads(1)
    train_envs = tuple(spec.config["train_envs"])
    data = random_experience(train_envs, spec.obs, budget.encoder_data_steps, TRAIN_SEED, keep_safe=keep)
    progress(f"[{spec.key}] {len(data)} observations, {int(data.unsafe.sum())} unsafe")
    model, record = train_autoencoder(
        data,
        spec.obs,
        spec.config["margin"],
        budget.encoder_updates,
        seed=TRAIN_SEED,
        progress=lambda step, loss: progress(f"[{spec.key}] update {step}/{budget.encoder_updates}, loss {loss:.4f}"),
        loss_name=spec.config.get("latent_loss", DEFAULT_LATENT_LOSS),
    )
    evaluation = {env_id: random_experience([env_id], spec.obs, budget.eval_steps, EVAL_SEED) for env_id in EVAL_ENVS}
    quality = {
        env_id: encoder_quality(model.encoder, data, on_policy_walks(env_id, spec.obs))
        for env_id, data in evaluation.items()
    }
    progress(f"[{spec.key}] ROC AUC on held-out layouts: { {e: q['roc_auc'] for e, q in quality.items()} }")
    staging = store.staging(spec)
    save_frozen(staging / "weights.pt", "encoder", spec.obs, model.encoder)
    plot_latents(model.encoder, evaluation, staging / "latent.png", title=spec.key)
    plot_operating_points(quality, staging / "operating_points.png", title=spec.key)
    record |= {"train_s": time.perf_counter() - start, "observations": len(data), "unsafe": int(data.unsafe.sum())}
    return str(store.commit(spec, staging, {"budget": asdict(budget), "quality": quality, **record}))


def _remote(fn):
    return ray.remote(num_cpus=1, max_retries=1)(fn)


def ensure_artifacts(
    obs: str,
    budget: str,
    margins: Sequence[float] = (PAPER_SHIELD.margin,),
    lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP,
    store: ArtifactStore | None = None,
    progress: Progress = _print,
    encoder: EncoderSetting = DEFAULT_ENCODER,
    prior_route: str | None = None,
) -> WeightFiles:
    """Weight files for Q_p (built by `prior_route`, default `default_prior_route`) and one
    encoder per margin (pretrained as `encoder` says), building what is missing.

    Missing or corrupt artifacts (`pretrain_jobs`) are (re)built as Ray tasks, stage after
    stage: the source DQNs and the encoders in parallel, then Q_p (a distilled Q_p after
    its symbolic teacher). Needs `ray.init()` only when something is built.

    Returns:
        the files of Q_p and of the encoder of every margin.
    """
    store = store or ArtifactStore()
    prior = prior_spec(obs, budget, lava_bootstrap, prior_route)
    encoders = {float(m): encoder_spec(obs, budget, m, encoder) for m in margins}
    jobs = pretrain_jobs(obs, budget, tuple(encoders), store.is_ready, lava_bootstrap, encoder, prior_route)
    built: dict[str, str | ray.ObjectRef] = {}  # key: the weight file, or the task building it

    def weights(spec: ArtifactSpec) -> str | ray.ObjectRef:
        return built.get(spec.key) or str(store.weights(spec))

    for job in sorted(jobs, key=lambda j: j.stage):  # a job's inputs are built in earlier stages
        spec = job.spec
        if spec.kind == "source_q":
            built[spec.key] = _remote(build_source_q).remote(spec, store)
        elif spec.kind == "encoder":
            built[spec.key] = _remote(build_encoder).remote(spec, store)
        elif spec.config.get("variant") == "distilled":
            teacher = prior_spec("symbolic", budget, lava_bootstrap, "pseudo-reward")
            built[spec.key] = _remote(build_distilled_prior).remote(spec, store, weights(teacher))
        else:
            sources = [weights(source_spec(env_id, spec.obs, budget)) for env_id in SOURCE_TASKS]
            built[spec.key] = _remote(build_prior_q).remote(spec, store, *sources)
    for spec in (prior, *encoders.values()):
        if spec.key not in built:
            progress(f"[{spec.key}] cached in {store.root}")
    if jobs:
        progress(f"building {len(jobs)} artifact(s) as Ray tasks into {store.root}")
    wanted = {"prior_q": prior, **encoders}
    pending = {name: built[spec.key] for name, spec in wanted.items() if spec.key in built}
    paths = {name: str(store.weights(spec)) for name, spec in wanted.items() if spec.key not in built}
    if pending:
        paths |= dict(zip(pending, ray.get(list(pending.values())), strict=True))
    for name, path in paths.items():
        load_frozen(path, "prior_q" if name == "prior_q" else "encoder", obs)  # refuse an artifact that does not load
    prior_q = paths.pop("prior_q")
    return WeightFiles(prior_q=prior_q, encoders=paths)

"""Env steps per second of a plain PyTorch loop, stock RLlib DQN, PaperDQN and ShieldedDQN,
and optionally of the paper authors' own scripts, measured side by side in one run.

Every variant runs the same fixed job: `--total` env steps on MiniGrid-LavaCrossingS9N1
(layout 123), the first `--learning-starts` without updates, then one update of batch 128
per 10 env steps, with ε and β scheduled over the run. Two rates come out of each run:

- cumulative: total env steps / wall time of the whole run, warm-up included. This is
  how the authors' CleanRL-style scripts report speed (``SPS``), so these figures compare
  directly with theirs;
- learning: env steps / wall time from the end of the first `--chunk` after learning
  started to the end: the steady rate of a long trial, where the warm-up is negligible.

Variants (same network `QNetwork`, same DQN settings `PaperDQNConfig`, 8 vector envs):

- plain PyTorch loop: `plain_dqn.PlainDQN`, no Ray (the machine's speed limit);
- stock RLlib DQN: RLlib's `DQN` with its episode replay and default connectors;
- PaperDQN: `rllib_algos.PaperDQN` (transition replay, lean connectors, lean update);
- ShieldedDQN, trained networks: PaperDQN plus the shield with the committed quick
  encoder and Q_p (symbolic only: no pixel artifacts are committed);
- ShieldedDQN, random networks: frozen networks with random weights, which flag about
  every state: the shield's worst case;
- with ``--authors DIR``: the authors' DQN+PER script and their full method (random
  weights), run unchanged by ``DIR/time_authors.sh {per|safe} N M`` (pixels; their scripts
  use one env). The folder is a scratch copy outside this repository.

Variants alternate within each of `--rounds` rounds, so drifts hit them alike; medians
are printed with the ratios the targets are about.

    python benchmarks/throughput.py                               # both obs kinds
    python benchmarks/throughput.py --obs pixels --threads 2 --authors /tmp/authors
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ray
import torch
from plain_dqn import PlainDQN
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_algos import ShieldedDQNConfig
from rllib_algos.paper_dqn import PaperDQNConfig, epsilon_schedule, for_env_steps
from rllib_algos.pretrain_budgets import encoder_spec, prior_spec
from rllib_algos.rl_module import PaperDQNModule
from shield.artifacts import ArtifactStore
from shield.envs import DEFAULT_ENV as ENV
from shield.settings import PAPER_SHIELD
from shield.weights import WeightFiles, build, save_frozen

LAYOUT = 123
SHARED_SETTINGS = (
    "lr",
    "gamma",
    "train_batch_size_per_learner",
    "target_network_update_freq",
    "training_intensity",
    "epsilon",
    "double_q",
    "dueling",
    "n_step",
    "num_env_runners",
    "num_envs_per_env_runner",
    "rollout_fragment_length",
)


@dataclass
class Job:
    """The fixed run every variant does."""

    obs: str
    total: int  # env steps
    learning_starts: int  # env steps before the first update
    chunk: int  # env steps per timing mark (RLlib: per train() call)


@dataclass
class Rates:
    cumulative: float  # env steps / s over the whole run
    learning: float  # env steps / s once learning has run for a chunk


def rates(marks: list[tuple[int, float]], start: float, job: Job) -> Rates:
    """Both rates from (env steps so far, time) marks taken after each chunk."""
    steps, end = marks[-1]
    after = next(((s, t) for s, t in marks if s >= job.learning_starts + job.chunk and s < steps), marks[0])
    return Rates(steps / (end - start), (steps - after[0]) / (end - after[1]))


def configure(config: DQNConfig, job: Job) -> DQNConfig:
    if isinstance(config, PaperDQNConfig):
        for_env_steps(config, job.total)  # ε over 90% of the run, β over all of it
    else:
        config.training(epsilon=epsilon_schedule(job.total))
    return (
        config.environment(ENV, env_config={"obs": job.obs, "layout_seed": LAYOUT})
        .training(num_steps_sampled_before_learning_starts=job.learning_starts)
        .reporting(min_sample_timesteps_per_iteration=job.chunk)
        .debugging(seed=0)
    )


def stock_config(job: Job) -> DQNConfig:
    paper = PaperDQNConfig()
    config = DQNConfig().rl_module(rl_module_spec=RLModuleSpec(module_class=PaperDQNModule))
    for name in SHARED_SETTINGS:
        setattr(config, name, getattr(paper, name))
    replay = {key: paper.replay_buffer_config[key] for key in ("capacity", "alpha")}
    config.replay_buffer_config = {"type": "PrioritizedEpisodeReplayBuffer", **replay, "beta": 0.4}
    return configure(config, job)  # RLlib's own prioritised buffer, with a fixed β


def shield_weights(obs: str, trained: bool, folder: Path) -> WeightFiles | None:
    """The committed quick encoder and Q_p (`trained`; None when not committed for `obs`),
    or frozen networks with random weights (seeded), saved in `folder`."""
    if trained:
        store = ArtifactStore()
        specs = encoder_spec(obs, "quick"), prior_spec(obs, "quick")
        if not all(store.is_ready(spec) for spec in specs):
            return None
        encoder, prior_q = (str(store.weights(spec)) for spec in specs)
        return WeightFiles(prior_q=prior_q, encoders={PAPER_SHIELD.margin: encoder})
    torch.manual_seed(0)
    encoder = save_frozen(folder / f"encoder_{obs}.pt", "encoder", obs, build("encoder", obs))
    prior_q = save_frozen(folder / f"prior_q_{obs}.pt", "prior_q", obs, build("prior_q", obs))
    return WeightFiles(prior_q=str(prior_q), encoders={PAPER_SHIELD.margin: str(encoder)})


def run_rllib(config: DQNConfig, job: Job) -> Rates:
    algo = config.build_algo()
    try:
        marks, steps, start = [], 0, time.perf_counter()
        while steps < job.total:
            algo.train()
            steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
            marks.append((steps, time.perf_counter()))
        return rates(marks, start, job)
    finally:
        algo.stop()


def run_plain(job: Job) -> Rates:
    agent = PlainDQN(ENV, job.obs, layout_seed=LAYOUT, total_steps=job.total, warmup=job.learning_starts)
    marks, start = [], time.perf_counter()
    while agent.steps < job.total:
        agent.run(job.chunk)
        marks.append((agent.steps, time.perf_counter()))
    return rates(marks, start, job)


def run_authors(folder: Path, script: str, job: Job, threads: int) -> Rates:
    """The authors' script through ``time_authors.sh`` (their loop, unchanged)."""
    env = os.environ | {"AUTHORS_THREADS": str(threads)}
    command = [str(folder / "time_authors.sh"), script, str(job.total), str(job.learning_starts)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    cumulative = re.search(r"cumulative env steps/s = .* = ([\d.]+)", out)
    learning = re.search(r"phase learning .*-> ([\d.]+) steps/s", out)
    if cumulative is None or learning is None:
        raise RuntimeError(f"unexpected output of {command}:\n{out[-2000:]}")
    return Rates(float(cumulative.group(1)), float(learning.group(1)))


def variants(obs: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    """{name: a callable(job) -> Rates} for `obs`."""
    found: dict[str, object] = {
        "plain PyTorch loop": run_plain,
        "stock RLlib DQN": lambda job: run_rllib(stock_config(job), job),
        "PaperDQN": lambda job: run_rllib(configure(PaperDQNConfig(), job), job),
    }
    for trained, label in ((True, "trained networks"), (False, "random networks")):
        weights = shield_weights(obs, trained, folder)
        if weights is not None:
            found[f"ShieldedDQN, {label}"] = lambda job, w=weights: run_rllib(
                configure(ShieldedDQNConfig().shield(mode="shield", weights=w), job), job
            )
    if args.authors is not None and obs == "pixels":
        found["authors' DQN+PER"] = lambda job: run_authors(args.authors, "per", job, args.threads)
        found["authors' full method"] = lambda job: run_authors(args.authors, "safe", job, args.threads)
    return {name: run for name, run in found.items() if not args.only or any(k in name for k in args.only)}


RATIOS = (
    ("ShieldedDQN, trained networks", "plain PyTorch loop", ">= 0.80"),
    ("ShieldedDQN, random networks", "plain PyTorch loop", ">= 0.80"),
    ("ShieldedDQN, random networks", "authors' full method", ">= 1.30"),
    ("PaperDQN", "authors' DQN+PER", ""),
    ("PaperDQN", "plain PyTorch loop", ""),
    ("ShieldedDQN, trained networks", "PaperDQN", "the shield's cost"),
    ("ShieldedDQN, random networks", "PaperDQN", "the shield's cost"),
    ("PaperDQN", "stock RLlib DQN", ""),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", choices=["symbolic", "pixels"], nargs="+", default=["symbolic", "pixels"])
    parser.add_argument("--total", type=int, default=6000, help="env steps per run (default 6000)")
    parser.add_argument("--learning-starts", type=int, default=1000, help="env steps before updates (1000)")
    parser.add_argument("--chunk", type=int, default=500, help="env steps between timing marks (500)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every variant (medians printed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, every variant (1: a Tune trial's)")
    parser.add_argument("--authors", type=Path, help="scratch folder with the authors' scripts and time_authors.sh")
    parser.add_argument("--only", nargs="+", help="run only the variants whose names contain one of these")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    print(f"env={ENV} layout={LAYOUT}  torch threads={args.threads}  rounds={args.rounds}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for obs in args.obs:
            job = Job(obs, args.total, args.learning_starts, args.chunk)
            runs = variants(obs, args, Path(folder))
            measured: dict[str, list[Rates]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, run in runs.items():
                    measured[name].append(run(job))
                    got = measured[name][-1]
                    print(f"  {obs} {name}: {got.cumulative:.1f} cumulative, {got.learning:.1f} learning", flush=True)
            median = {
                name: Rates(*(statistics.median(getattr(r, f) for r in values) for f in ("cumulative", "learning")))
                for name, values in measured.items()
            }
            print(f"\nobs={obs}: {job.total} env steps, first {job.learning_starts} without updates (env steps/s)")
            print(f"  {'variant':32s} {'cumulative':>11s} {'learning':>9s}")
            for name, value in median.items():
                print(f"  {name:32s} {value.cumulative:11.1f} {value.learning:9.1f}")
            print(f"  {'ratio':58s} {'cumulative':>11s} {'learning':>9s}")
            for a, b, note in RATIOS:
                if a in median and b in median:
                    c, lr = median[a].cumulative / median[b].cumulative, median[a].learning / median[b].learning
                    print(f"  {a + ' / ' + b:58s} {c:11.3f} {lr:9.3f}  {note}")
            print(flush=True)


if __name__ == "__main__":
    main()

"""Env steps per second of a plain PyTorch loop, stock RLlib DQN, PaperDQN and ShieldedDQN.

All use the same environment, the same network (`QNetwork`; in RLlib `PaperDQNModule`),
the same DQN settings (`PaperDQNConfig` defaults), 8 vector envs and one torch thread:

- plain PyTorch loop: `plain_dqn.PlainDQN`, no Ray (the machine's speed limit);
- stock DQN: RLlib's `DQN`/`DQNConfig` (its episode replay buffer and learner connector);
- PaperDQN: the same with `TransitionReplay` (flat uint8 arrays, no episode objects);
- ShieldedDQN: PaperDQN plus the shield and its metric callbacks.

The shield uses the committed quick encoder and Q_p where they exist (symbolic), else
frozen networks with random weights, which flag about every state: the shield's worst
case. Timing starts after learning has begun; variants alternate over `--rounds`.

    python benchmarks/throughput.py                    # symbolic and pixels
    python benchmarks/throughput.py --obs symbolic --steps 4000 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray
import torch
from plain_dqn import measure_plain
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_algos import ShieldedDQNConfig
from rllib_algos.paper_dqn import PaperDQNConfig
from rllib_algos.pretrain_budgets import encoder_spec, prior_spec
from rllib_algos.rl_module import PaperDQNModule
from shield.artifacts import ArtifactStore
from shield.envs import DEFAULT_ENV as ENV
from shield.settings import PAPER_SHIELD
from shield.weights import WeightFiles, build, save_frozen


def configure(config: DQNConfig, obs: str, warmup: int, steps: int) -> DQNConfig:
    return (
        config.environment(ENV, env_config={"obs": obs, "layout_seed": 123})
        .training(num_steps_sampled_before_learning_starts=warmup)
        .reporting(min_sample_timesteps_per_iteration=steps)
        .debugging(seed=0)
    )


SHARED_SETTINGS = (
    "lr",
    "gamma",
    "train_batch_size_per_learner",
    "replay_buffer_config",
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


def stock_config(obs: str, warmup: int, steps: int) -> DQNConfig:
    paper = PaperDQNConfig()
    config = DQNConfig().rl_module(rl_module_spec=RLModuleSpec(module_class=PaperDQNModule))
    for name in SHARED_SETTINGS:
        setattr(config, name, getattr(paper, name))
    return configure(config, obs, warmup, steps)


def paper_config(obs: str, warmup: int, steps: int) -> DQNConfig:
    return configure(PaperDQNConfig(), obs, warmup, steps)


def shield_networks(obs: str, folder: Path) -> tuple[str, str, str]:
    """(encoder file, Q_p file, where they come from): the committed quick artifacts where
    present, else random weights. The trained ones flag as few states as in a real run, and
    Q_p runs only on flagged states; random ones flag about every state (the worst case)."""
    store = ArtifactStore()
    specs = encoder_spec(obs, "quick"), prior_spec(obs, "quick")
    if all(store.is_ready(spec) for spec in specs):
        return str(store.weights(specs[0])), str(store.weights(specs[1])), "trained (quick artifacts)"
    encoder = save_frozen(folder / f"encoder_{obs}.pt", "encoder", obs, build("encoder", obs))
    prior_q = save_frozen(folder / f"prior_q_{obs}.pt", "prior_q", obs, build("prior_q", obs))
    return str(encoder), str(prior_q), "random weights (no quick artifacts)"


def shield_config(obs: str, warmup: int, steps: int, encoder: str, prior_q: str) -> DQNConfig:
    weights = WeightFiles(prior_q=prior_q, encoders={PAPER_SHIELD.margin: encoder})
    config = ShieldedDQNConfig().shield(mode="shield", weights=weights)
    return configure(config, obs, warmup, steps)


def measure(config: DQNConfig, iterations: int) -> float:
    """Env steps per second over `iterations` train() calls, once learning has started."""
    algo = config.build_algo()
    try:
        sampled = 0
        while sampled < config.num_steps_sampled_before_learning_starts + 1:  # also compiles the first update
            algo.train()
            sampled = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        start_steps = sampled
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        elapsed = time.perf_counter() - start
        steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - start_steps
        return steps / elapsed
    finally:
        algo.stop()


VARIANTS = ("plain PyTorch loop", "stock RLlib DQN", "PaperDQN", "ShieldedDQN (shield)")


def measure_variant(name: str, obs: str, args: argparse.Namespace, networks: tuple[str, str, str]) -> float:
    """Env steps/s of variant `name`; `networks` are the shield's (see `shield_networks`)."""
    if name == "plain PyTorch loop":
        return measure_plain(ENV, obs, args.warmup, args.steps, args.iterations)
    if name == "stock RLlib DQN":
        return measure(stock_config(obs, args.warmup, args.steps), args.iterations)
    if name == "PaperDQN":
        return measure(paper_config(obs, args.warmup, args.steps), args.iterations)
    encoder, prior_q, _ = networks
    return measure(shield_config(obs, args.warmup, args.steps, encoder, prior_q), args.iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", choices=["symbolic", "pixels"], nargs="+", default=["symbolic", "pixels"])
    parser.add_argument("--warmup", type=int, default=1000, help="env steps before learning starts")
    parser.add_argument("--steps", type=int, default=2000, help="env steps per timed chunk (train() call)")
    parser.add_argument("--pixel-steps", type=int, default=500, help="--steps for pixels (updates cost ~20x more)")
    parser.add_argument("--iterations", type=int, default=2, help="timed chunks per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a Tune trial gets 1 per CPU)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    ray.init(num_cpus=1, include_dashboard=False)
    print(f"env={ENV}  torch threads={args.threads}  rounds={args.rounds}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for obs in args.obs:
            run_args = argparse.Namespace(**vars(args))
            if obs == "pixels":
                run_args.steps = args.pixel_steps
            networks = shield_networks(obs, Path(folder))
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for _ in range(args.rounds):  # variants alternate, so drifts hit them alike
                for name in VARIANTS:
                    rates[name].append(measure_variant(name, obs, run_args, networks))
                    print(f"  {obs} {name}: {rates[name][-1]:.1f} env steps/s", flush=True)
            median = {name: statistics.median(values) for name, values in rates.items()}
            print(f"obs={obs}  steps/chunk={run_args.steps}  chunks={args.iterations}  shield networks: {networks[2]}")
            for name, value in median.items():
                print(f"  {name:22s} {value:8.1f} env steps/s   {value / median[VARIANTS[0]]:5.2f} of the plain loop")
            shielded = median["ShieldedDQN (shield)"]
            print(f"  ratio ShieldedDQN / plain loop  {shielded / median[VARIANTS[0]]:6.3f}  (target >= 0.80)")
            print(f"  ratio ShieldedDQN / PaperDQN    {shielded / median['PaperDQN']:6.3f}  (the shield's cost)")
            print(f"  ratio ShieldedDQN / stock DQN   {shielded / median['stock RLlib DQN']:6.3f}", flush=True)


if __name__ == "__main__":
    main()

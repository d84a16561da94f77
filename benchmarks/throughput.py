"""Env steps per second of stock RLlib DQN, PaperDQN and ShieldedDQN (mode "shield"), one run.

All use the same environment, the paper's network (`PaperDQNModule`), the same DQN
settings (`PaperDQNConfig` defaults) and sampling setup:

- stock DQN: RLlib's `DQN`/`DQNConfig` (its episode replay buffer and learner connector);
- PaperDQN: the same with `TransitionReplay` (flat uint8 arrays, no episode objects);
- ShieldedDQN: PaperDQN plus the shield and its metric callbacks.

The shield uses frozen networks with random weights (its cost does not depend on their
values). Timing starts after learning has begun; variants alternate over `--rounds`.

    python benchmarks/throughput.py --obs symbolic --steps 4000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_algos import ShieldedDQNConfig
from rllib_algos.paper_dqn import PaperDQNConfig
from rllib_algos.rl_module import PaperDQNModule
from shield.weights import build, save_frozen

ENV = "MiniGrid-LavaCrossingS9N1-v0"


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


def shield_config(obs: str, warmup: int, steps: int, folder: Path) -> DQNConfig:
    encoder = save_frozen(folder / f"encoder_{obs}.pt", "encoder", obs, build("encoder", obs))
    prior_q = save_frozen(folder / f"prior_q_{obs}.pt", "prior_q", obs, build("prior_q", obs))
    config = ShieldedDQNConfig().shield(mode="shield", encoder_path=str(encoder), prior_q_path=str(prior_q))
    return configure(config, obs, warmup, steps)


def measure(config: DQNConfig, iterations: int) -> float:
    """Env steps per second over `iterations` train() calls after one warm-up call."""
    algo = config.build_algo()
    try:
        algo.train()  # fills replay up to learning start and compiles the first update
        start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        elapsed = time.perf_counter() - start
        steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - start_steps
        return steps / elapsed
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", choices=["symbolic", "pixels"], default="symbolic")
    parser.add_argument("--warmup", type=int, default=1000, help="env steps before learning starts")
    parser.add_argument("--steps", type=int, default=2000, help="env steps per train() call")
    parser.add_argument("--iterations", type=int, default=2, help="timed train() calls per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    ray.init(num_cpus=1, include_dashboard=False)
    rates: dict[str, list[float]] = {"stock DQN": [], "PaperDQN": [], "ShieldedDQN (shield)": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            rates["stock DQN"].append(measure(stock_config(args.obs, args.warmup, args.steps), args.iterations))
            rates["PaperDQN"].append(measure(paper_config(args.obs, args.warmup, args.steps), args.iterations))
            shielded = shield_config(args.obs, args.warmup, args.steps, Path(folder))
            rates["ShieldedDQN (shield)"].append(measure(shielded, args.iterations))
    print(f"obs={args.obs}  env={ENV}  steps/iteration={args.steps}  rounds={args.rounds}")
    for name, values in rates.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:22s} {statistics.median(values):8.1f} env steps/s  (rounds: {rounds})")
    median = {name: statistics.median(values) for name, values in rates.items()}
    shielded, paper, stock = median["ShieldedDQN (shield)"], median["PaperDQN"], median["stock DQN"]
    print(f"ratio ShieldedDQN / PaperDQN   {shielded / paper:6.3f}  (the shield's cost)")
    print(f"ratio ShieldedDQN / stock DQN  {shielded / stock:6.3f}  (target >= 0.90)")
    print(f"ratio PaperDQN / stock DQN     {paper / stock:6.3f}  (the replay's gain)")


if __name__ == "__main__":
    main()

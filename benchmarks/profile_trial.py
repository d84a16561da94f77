"""Where a ShieldedDQN (or PaperDQN) trial's time goes, by part, from cProfile.

Runs the fixed job of `throughput.py` (N env steps, the first M without updates) under
cProfile and splits the wall time into the parts below, each the cumulative time of the
functions that do it (profiling slows Python calls, so the shares are approximate):

- env step: the vector env's step (MiniGrid, its observation encoding, our cost info);
- acting forward: the RLModule's exploration forward pass, the shield excluded;
- shield: `Shield.decide` (state check, action check, draws) and storing violations;
- connectors: the env-to-module and module-to-env pipelines;
- episode callbacks: RLlib's per-step callback dispatch and `ShieldCallbacks`;
- learner update: `dqn_update` (forward, loss, backward, Adam, target sync);
- replay: adding transitions, n-step returns, sampling, priority updates;
- weight sync: Learner → EnvRunner after every training step;
- other: the rest (RLlib's sampling loop and episodes, metrics, Tune's train()).

    python benchmarks/profile_trial.py --obs symbolic
    python benchmarks/profile_trial.py --obs pixels --total 3000 --variant paper
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import ray
import torch
from throughput import Job, configure, shield_weights

from rllib_algos import ShieldedDQNConfig
from rllib_algos.paper_dqn import PaperDQNConfig

# part: (file suffix, function name) entries whose cumulative times add up to it, and
# entries subtracted (nested inside an entry of another part).
PARTS: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "env step": ([("env_runner.py", "_try_env_step")], []),
    "acting forward": (
        [("torch_rl_module.py", "forward_exploration")],
        [("shield.py", "decide")],
    ),
    "shield": ([("shield.py", "decide"), ("shield.py", "record_violation")], []),
    "connectors": ([("connector_pipeline_v2.py", "__call__")], []),
    "episode callbacks": (
        [("callbacks/utils.py", "make_callback")],
        [("shield.py", "record_violation")],
    ),
    "learner update": ([("learner_step.py", "dqn_update")], []),
    "replay": (
        [("replay.py", "add"), ("replay.py", "sample"), ("replay.py", "update_priorities")],
        [],
    ),
    "weight sync": ([("env_runner_group.py", "sync_weights")], []),
}


def cumulative(stats: pstats.Stats, entries: list[tuple[str, str]]) -> float:
    """Sum of the cumulative times of the functions matching `entries` (outermost calls)."""
    total = 0.0
    for (filename, _, name), (_, _, _, cum, _) in stats.stats.items():
        if any(filename.endswith(suffix) and name == fn for suffix, fn in entries):
            total += cum
    return total


def breakdown(stats: pstats.Stats, wall: float) -> dict[str, float]:
    """{part: seconds}, "other" being the rest of `wall`."""
    parts = {name: cumulative(stats, add) - cumulative(stats, sub) for name, (add, sub) in PARTS.items()}
    parts["other"] = wall - sum(parts.values())
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", choices=["symbolic", "pixels"], default="symbolic")
    parser.add_argument("--variant", choices=["shield", "paper"], default="shield")
    parser.add_argument("--networks", choices=["trained", "random"], default="trained")
    parser.add_argument("--total", type=int, default=6000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--save", type=Path, help="also write the raw profile here (pstats)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    job = Job(args.obs, args.total, args.learning_starts, args.chunk)
    with tempfile.TemporaryDirectory() as folder:
        if args.variant == "shield":
            weights = shield_weights(args.obs, args.networks == "trained", Path(folder))
            if weights is None:
                raise SystemExit(f"no committed {args.obs} networks: pass --networks random")
            config = configure(ShieldedDQNConfig().shield(mode="shield", weights=weights), job)
        else:
            config = configure(PaperDQNConfig(), job)
        algo = config.build_algo()
        profile, steps = cProfile.Profile(), 0
        start = time.perf_counter()
        profile.enable()
        while steps < job.total:
            algo.train()
            steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)
        profile.disable()
        wall = time.perf_counter() - start
        algo.stop()
    if args.save:
        profile.dump_stats(args.save)
    parts = breakdown(pstats.Stats(profile), wall)
    print(f"{args.variant} {args.obs} ({args.networks} networks): {steps} env steps in {wall:.2f} s under cProfile")
    for name, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {name:18s} {seconds:7.2f} s  {100 * seconds / wall:5.1f}%  {1e6 * seconds / steps:7.1f} µs/step")


if __name__ == "__main__":
    main()

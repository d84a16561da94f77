"""Size and save/restore time of one trial checkpoint with a full replay, both observation kinds.

    python benchmarks/checkpoint_size.py                 # symbolic and pixels, 10,000 transitions
    python benchmarks/checkpoint_size.py --obs pixels --saves 5

A PaperDQN trial (the paper's replay capacity, 8 envs) samples real LavaCrossingS9N1
frames until its replay is full (learning switched off: only the replay's contents
matter here), then saves its checkpoint `--saves` times and restores it once into a new
algorithm. Prints, per kind: the raw replay size, the checkpoint's size (RLlib's files and
the resume files apart), the compression ratio and the save and restore times (median).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from rllib_algos import PaperDQNConfig
from rllib_algos.resume import RESUME_DIR
from shield.envs import DEFAULT_ENV


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(obs: str, capacity: int):
    config = (
        PaperDQNConfig()
        .environment(DEFAULT_ENV, env_config={"obs": obs, "layout_seed": 123})
        .training(num_steps_sampled_before_learning_starts=10**9, replay_buffer_config={"capacity": capacity})
        .reporting(min_sample_timesteps_per_iteration=capacity)
        .debugging(seed=0)
    )
    return config.build_algo()


def measure(obs: str, capacity: int, saves: int) -> dict[str, float]:
    algo = build(obs, capacity)
    while len(algo.transitions) < capacity:
        algo.train()
    replay = algo.transitions
    raw = replay.obs.nbytes + replay.next_obs.nbytes
    times, root = [], Path(tempfile.mkdtemp(prefix="ckpt-"))
    for i in range(saves):
        start = time.perf_counter()
        algo.save_to_path(root / f"c{i}")
        times.append(time.perf_counter() - start)
    checkpoint = root / "c0"
    other = build(obs, capacity)
    start = time.perf_counter()
    other.restore_from_path(checkpoint)
    restore_s = time.perf_counter() - start
    assert np.array_equal(other.transitions.obs, replay.obs)  # the restore is the replay
    total, resume_bytes = folder_bytes(checkpoint), folder_bytes(checkpoint / RESUME_DIR)
    algo.stop()
    other.stop()
    shutil.rmtree(root)
    return {
        "transitions": len(replay),
        "raw_obs_MB": raw / 1e6,
        "checkpoint_MB": total / 1e6,
        "resume_MB": resume_bytes / 1e6,
        "ratio": raw / resume_bytes,
        "save_s": statistics.median(times),
        "restore_s": restore_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--obs", nargs="+", default=["symbolic", "pixels"], choices=["symbolic", "pixels"])
    parser.add_argument("--capacity", type=int, default=10_000, help="replay transitions (default: the paper's)")
    parser.add_argument("--saves", type=int, default=3, help="saves timed per kind (median printed)")
    args = parser.parse_args()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    print(
        f"{'obs':9s} {'transitions':>11s} {'raw obs MB':>10s} {'ckpt MB':>8s} {'resume MB':>9s} "
        f"{'raw/stored':>10s} {'save s':>7s} {'restore s':>9s}"
    )
    for obs in args.obs:
        m = measure(obs, args.capacity, args.saves)
        print(
            f"{obs:9s} {m['transitions']:11d} {m['raw_obs_MB']:10.1f} {m['checkpoint_MB']:8.1f} "
            f"{m['resume_MB']:9.1f} {m['ratio']:10.1f} {m['save_s']:7.2f} {m['restore_s']:9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

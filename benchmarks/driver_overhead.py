"""Driver overhead per trial of an Optuna search through Tune (target: under 1% of a quick trial).

The search's own machinery (`sweeps.pareto_search`: its param space, NSGA-II searcher,
Tune settings, progress table and trials started at once; `sweeps.runner.run_config`:
checkpoints after every iteration, retries, the trials.csv callback) on local Ray, with a
trainable that trains nothing: each trial reports the two objectives, computed from its
shield settings, after one iteration. What a trial costs here is what the driver, Tune and
Ray spend on it: proposing, starting its actor, checkpointing, logging, the callbacks.
Prints, per study size: the wall time per trial, the time inside the trainable per trial
(to subtract), and that overhead over a quick-budget trial's time (the median of
results/threshold/quick/trials.csv's wall_s).

    python benchmarks/driver_overhead.py                        # 100 then 1,000 trials
    python benchmarks/driver_overhead.py --reuse-actors         # one actor for many trials
    python benchmarks/driver_overhead.py --trials 200 --profile driver.prof
    TUNE_MAX_PENDING_TRIALS_PG=1 python benchmarks/driver_overhead.py   # Tune's default: one at a time
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import tempfile
import time
from pathlib import Path

import pandas as pd
from ray import tune

from sweeps.pareto_search import (
    MARGINS,
    STUDY,
    search_config,
    search_reporter,
    search_space,
    trials_starting_at_once,
)
from sweeps.plan import make_plan, parse_args
from sweeps.runner import connect, run_config, study_weights

ROOT = Path(__file__).resolve().parents[1]
QUICK_TRIALS = ROOT / "results" / "threshold" / "quick" / "trials.csv"
TARGET = 0.01  # of a quick trial's time


class Objectives(tune.Trainable):
    """A search trial that trains nothing: one iteration whose result holds the search's
    objectives (`sweeps.pareto_search.SEARCH_METRICS`), a smooth function of the settings, and
    the seconds spent inside the trainable (``inside_s``). Like `ShieldedDQN`, it checkpoints
    when Tune asks and cannot be reset for another trial (one actor per trial)."""

    def setup(self, config: dict) -> None:
        self.started = time.perf_counter()
        self.settings = config["shield_config"]

    def step(self) -> dict:
        s = self.settings
        guard = s["rho"] * min(s["d_max"], 3.0) / 3.0  # 0 (no shield) .. 1 (strict)
        shield = {
            "return_final": 0.96 - 0.4 * max(guard - 0.7, 0.0) - 0.002 * abs(s["margin"] - 10.0),
            "violations_total": 240.0 * (1.0 - 0.87 * guard) * (100.0 / s["buffer_size"]) ** 0.1,
        }
        return {
            "env_runners": {"shield": shield, "num_env_steps_sampled_lifetime": 0},
            "inside_s": time.perf_counter() - self.started,
        }

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        (Path(checkpoint_dir) / "settings.json").write_text(str(self.settings))

    def load_checkpoint(self, checkpoint: str) -> None:
        pass


class ReusableObjectives(Objectives):
    """`Objectives` that Tune can reset for the next trial in the same actor: what the
    search would cost if `ShieldedDQN` implemented `reset_config` (`--reuse-actors`)."""

    def reset_config(self, new_config: dict) -> bool:
        self.setup(new_config)
        return True


def run_search(storage: Path, trials: int, reuse: bool, profile: Path | None = None) -> dict[str, float]:
    """One search of `trials` trials in `storage`: {"wall_s", "inside_s" (summed), "started",
    "trials" (finished), "at_once" (trials Tune starts at once)}. reuse: actors reused across trials
    (`ReusableObjectives`)."""
    run_id = f"overhead-{trials}{'-reuse' if reuse else ''}"
    plan = make_plan(STUDY, parse_args(STUDY, ["--budget", "quick", "--storage", str(storage), "--run-id", run_id]))
    weights = study_weights(plan, MARGINS)  # the committed quick artifacts: nothing to build
    tune_config = search_config(plan, trials)
    if reuse:
        tune_config = dataclasses.replace(tune_config, reuse_actors=True)
    tuner = tune.Tuner(
        ReusableObjectives if reuse else Objectives,
        param_space=search_space(plan, weights),
        tune_config=tune_config,
        run_config=run_config(plan.run_dir / "search", iterations=1, reporter=search_reporter()),
    )
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with trials_starting_at_once() as at_once:  # as the search runs its trials
        if profiler:
            profiler.enable()
        results = tuner.fit()
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
    wall = time.perf_counter() - started
    inside = sum(float(result.metrics.get("inside_s", 0.0)) for result in results)
    finished = sum(1 for result in results if result.error is None)
    # per trial Tune started (all of them, unless the search was interrupted)
    return {"wall_s": wall, "inside_s": inside, "started": len(results), "trials": finished, "at_once": at_once}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--profile", type=Path, help="cProfile of the driver during the last search, to this file")
    parser.add_argument("--reuse-actors", action="store_true", help="one actor for many trials (ReusableObjectives)")
    args = parser.parse_args()
    quick = float(pd.read_csv(QUICK_TRIALS)["wall_s"].median())
    print(f"a quick-budget trial: {quick:.1f} s (median of {QUICK_TRIALS.relative_to(ROOT)})", flush=True)
    connect()
    with tempfile.TemporaryDirectory(prefix="overhead-") as storage:
        for i, trials in enumerate(args.trials):
            last = i == len(args.trials) - 1
            run = run_search(Path(storage), trials, args.reuse_actors, args.profile if last else None)
            per_trial, inside = run["wall_s"] / run["started"], run["inside_s"] / run["started"]
            overhead = per_trial - inside
            verdict = "meets" if overhead / quick < TARGET else "misses"
            variant = ", actors reused" if args.reuse_actors else ""
            variant += f", {run['at_once']:.0f} starting at once"
            print(
                f"{trials} trials{variant} ({run['trials']:.0f} finished) in {run['wall_s']:.1f} s: "
                f"{per_trial:.3f} s per trial, {inside * 1000:.1f} ms of it inside the trainable; "
                f"overhead {overhead:.3f} s = {overhead / quick:.2%} of a quick trial ({verdict} the "
                f"{TARGET:.0%} target)",
                flush=True,
            )
    if args.profile:
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()

"""Study: multi-objective search over d_max, α, rho and buffer size (Optuna NSGA-II via Tune).

Phase 1 (``search/``): NSGA-II proposes `--trials` settings, one seed each, maximising
return_final and minimising violations_total. Phase 2 (``front/``): the settings on the
phase-1 front are re-run with the baselines and the paper's setting over every seed, so
the final Pareto table has honest statistics.

    python sweeps/pareto_search.py --trials 24
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from shield.settings import PAPER_SHIELD
from sweeps.plan import Plan, Study, shield_settings

SPACE = {"d_max": (0.5, 5.0), "rho": (0.5, 1.0), "buffer_size": [10, 25, 50, 100, 200]}
MARGINS = [2.0, 5.0, 10.0, 20.0]
OBJECTIVES = {"env_runners/shield/return_final": "max", "env_runners/shield/violations_total": "min"}
TRIALS = {"smoke": 3, "quick": 12, "paper": 48}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, help="settings NSGA-II proposes (default: smoke 3, quick 12, paper 48)")


def search(plan: Plan, trials: int) -> list[dict]:
    """Phase 1; returns the settings on its front (rounded for readable tables)."""
    from optuna.samplers import NSGAIISampler
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from rllib_algos.trial_config import trial_config
    from sweeps.manifest import write_manifest
    from sweeps.report import read_trials
    from sweeps.results import pareto_table
    from sweeps.runner import connect, fit, study_weights, trial_budget, trial_dirname

    connect()
    weights = study_weights(plan, MARGINS)
    (paper,) = shield_settings({})  # the paper's setting
    config = trial_config(plan.env, plan.obs, plan.agent, trial_budget(plan), paper, weights, plan.gpus_per_trial)
    config.shield(weights=weights)  # every margin's encoder: the search picks α
    config.validate_shield()
    space = config.to_dict()
    space["seed"] = plan.seeds[0]
    space["env_config"] = dict(space["env_config"]) | {"layout_seed": plan.seeds[0]}
    space["shield_config"] = dict(space["shield_config"]) | {
        "d_max": tune.uniform(*SPACE["d_max"]),
        "rho": tune.uniform(*SPACE["rho"]),
        "buffer_size": tune.choice(SPACE["buffer_size"]),
        "margin": tune.choice(MARGINS),
    }
    search_dir = plan.run_dir / "search"
    searcher = OptunaSearch(
        metric=list(OBJECTIVES),
        mode=list(OBJECTIVES.values()),
        sampler=NSGAIISampler(seed=0, population_size=max(4, trials // 3)),
    )
    tune_config = tune.TuneConfig(
        search_alg=searcher,
        num_samples=trials,
        max_concurrent_trials=plan.args.max_concurrent or None,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_dirname,
    )
    started = time.time()
    fit(search_dir, space, tune_config, plan.budget.iterations)
    search_plan = replace(plan, run_dir=search_dir)
    searched = {
        "settings": [],
        "search_space": SPACE | {"margin": MARGINS},
        "search_trials": trials,
        "seeds": plan.seeds[:1],
    }
    write_manifest(search_plan, started, time.time(), {"artifacts": weights.to_dict(), **searched})
    found, _ = read_trials(search_dir)
    table = pareto_table(found)
    table.to_csv(search_dir / "pareto.csv", index=False)
    front = table[table["on_front"]]
    print(f"search: {len(found)} trials, {len(front)} on the front", flush=True)
    return [
        {
            "mode": "shield",
            "d_max": round(float(row.d_max), 2),
            "margin": float(row.margin),
            "rho": round(float(row.rho), 2),
            "buffer_size": int(row.buffer_size),
            "k": PAPER_SHIELD.k,
        }
        for row in front.itertuples()
    ] or [paper]


def run(plan: Plan) -> int:
    """Both phases: the search, then its front with the baselines over every seed."""
    from sweeps.runner import check_gpus, connect, run_phase

    trials = TRIALS[plan.args.budget] if plan.args.trials is None else plan.args.trials
    if trials < 1:
        print(
            f"error: --trials must be >= 1, got {trials}: pass how many settings the search proposes", file=sys.stderr
        )
        return 2
    connect()
    try:
        check_gpus(plan.gpus_per_trial)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    front = search(plan, trials)
    return run_phase(plan, f"{plan.run_dir.name}/front", front)


STUDY = Study(
    name="pareto_search",
    description="NSGA-II search over d_max, margin, rho and buffer_size (--trials N settings, one seed each), "
    "then the settings on its front re-run with the baselines over every seed.",
    add_arguments=add_arguments,
    run=run,
)

if __name__ == "__main__":
    from sweeps.launch import run_study

    raise SystemExit(run_study(STUDY))

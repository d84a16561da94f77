"""Study: multi-objective search over d_max, α, rho and buffer size (Optuna NSGA-II via Tune).

Phase 1 (``search/``): NSGA-II proposes `--trials` settings, one seed each, maximising
return_final and minimising violations_total. Phase 2 (``front/``): the settings on the
phase-1 front are re-run with the baselines and the paper's setting over every seed, so
the final Pareto table has honest statistics. The search's Optuna study is kept in
``search/optuna.journal`` (`sweeps.search_storage`), with Optuna's plots of it beside.

    python sweeps/pareto_search.py --trials 24
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shield.settings import ShieldParams
from shield.weights import WeightFiles
from sweeps.plan import Plan, Study
from sweeps.results import OBJECTIVES

if TYPE_CHECKING:
    from ray import tune

SPACE = {"d_max": (0.5, 5.0), "rho": (0.5, 1.0), "buffer_size": [10, 25, 50, 100, 200]}
MARGINS = [2.0, 5.0, 10.0, 20.0]
# The objectives of `sweeps.results.OBJECTIVES` as Tune reports them: {result key: "max" or "min"}
SEARCH_METRICS = {f"env_runners/shield/{name}": "max" if sense > 0 else "min" for name, sense in OBJECTIVES}
TRIALS = {"smoke": 3, "quick": 12, "paper": 48}
PENDING = "TUNE_MAX_PENDING_TRIALS_PG"  # how many trials Tune starts at once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, help="settings NSGA-II proposes (default: smoke 3, quick 12, paper 48)")


def base_setting(plan: Plan) -> ShieldParams:
    """The shield setting the search starts from and varies `SPACE` and the margin of: the
    plan's first (the tool's defaults, or the rules ``--buffer-rule``/``--d-max-rule`` give)."""
    return next(s for s in plan.settings if s.mode == "shield")


def search_space(plan: Plan, weights: WeightFiles) -> dict[str, Any]:
    """Tune's param space of the search: the paper's trial configuration (every margin's
    encoder among `weights`) on the plan's first seed, with the shield
    settings NSGA-II picks drawn from `SPACE` and `MARGINS`."""
    from ray import tune

    from rllib_algos.trial_config import trial_config
    from sweeps.runner import trial_length

    length, base = trial_length(plan), base_setting(plan)
    config = trial_config(plan.env, plan.obs, plan.agent, length, base, weights, plan.gpus_per_trial, plan.lava_look)
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
    return space


def search_config(plan: Plan, trials: int) -> tune.TuneConfig:
    """Tune's settings of the search: `trials` trials proposed by NSGA-II (a population of a
    third of them, at least 4) towards `SEARCH_METRICS`, `--max-concurrent` at once; its Optuna
    study kept in the journal of the run's ``search/`` folder (created, or continued)."""
    from optuna.samplers import NSGAIISampler
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from sweeps.runner import trial_dirname
    from sweeps.search_storage import STUDY_NAME, create_search_study, journal_storage

    storage = journal_storage(plan.run_dir / "search")
    create_search_study(storage, SEARCH_METRICS)  # with its objectives' names; OptunaSearch loads it
    searcher = OptunaSearch(
        metric=list(SEARCH_METRICS),
        mode=list(SEARCH_METRICS.values()),
        sampler=NSGAIISampler(seed=0, population_size=max(4, trials // 3)),
        study_name=STUDY_NAME,
        storage=storage,
    )
    return tune.TuneConfig(
        search_alg=searcher,
        num_samples=trials,
        max_concurrent_trials=plan.args.max_concurrent or None,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_dirname,
    )


@contextlib.contextmanager
def trials_starting_at_once() -> Iterator[int]:
    """While it lasts, Tune starts up to one trial per CPU of the cluster at once (unless
    ``TUNE_MAX_PENDING_TRIALS_PG`` says otherwise); yields that number.

    Tune's default for a searcher is one at a time: each trial waits for the one before it
    to start its actor (seconds: a new process importing RLlib, benchmarks/driver_overhead.py),
    so that a cluster of many slots would refill them slower than its trials end.
    """
    import ray

    previous = os.environ.get(PENDING)
    os.environ[PENDING] = previous or str(max(1, int(ray.cluster_resources().get("CPU", 1))))
    try:
        yield int(os.environ[PENDING])
    finally:
        if previous is None:
            del os.environ[PENDING]


def search_reporter() -> tune.ProgressReporter:
    """The search's progress table: the grid studies' columns and the settings it draws,
    every 30 s at most (a table of 1,000 trials takes Tune 0.15 s to build: at its default
    5 s, a day-long search would spend an hour of the driver's CPU on it)."""
    from ray import tune

    from sweeps.runner import PROGRESS_METRICS, PROGRESS_PARAMETERS

    drawn = {f"shield_config/{key}": key for key in (*SPACE, "margin")}
    return tune.CLIReporter(
        parameter_columns=PROGRESS_PARAMETERS | drawn, metric_columns=PROGRESS_METRICS, max_report_frequency=30
    )


def search(plan: Plan, trials: int) -> list[ShieldParams]:
    """Phase 1; returns the settings on its front (rounded for readable tables)."""
    from ray import tune

    from sweeps.manifest import write_manifest
    from sweeps.report import read_trials
    from sweeps.results import pareto_table
    from sweeps.runner import connect, fit, study_weights
    from sweeps.search_storage import JOURNAL, write_study_plots

    connect()
    weights = study_weights(plan, MARGINS)
    search_dir = plan.run_dir / "search"
    if not tune.Tuner.can_restore(str(search_dir)):
        # Tune starts the search afresh, and so does its study: one left by a run stopped
        # before Tune's first checkpoint holds trials Tune knows nothing of. A resumed
        # search's searcher, restored by Tune, goes on writing to the journal it wrote to.
        (search_dir / JOURNAL).unlink(missing_ok=True)
    space, tune_config = search_space(plan, weights), search_config(plan, trials)
    started = time.time()
    with trials_starting_at_once():
        fit(search_dir, space, tune_config, plan.budget.iterations, search_reporter())
    search_plan = replace(plan, run_dir=search_dir)
    searched = {
        "settings": [],
        "search_space": SPACE | {"margin": MARGINS},
        "search_trials": trials,
        "seeds": plan.seeds[:1],
    }
    write_manifest(search_plan, started, time.time(), {"artifacts": weights.to_dict(), **searched})
    found = read_trials(search_dir).trials
    table = pareto_table(found)
    table.to_csv(search_dir / "pareto.csv", index=False)
    write_study_plots(search_dir)
    front = table[table["on_front"]]
    print(f"search: {len(found)} trials, {len(front)} on the front", flush=True)
    base = base_setting(plan)
    return [
        replace(
            base,
            d_max=round(float(row.d_max), 2),
            margin=float(row.margin),
            rho=round(float(row.rho), 2),
            buffer_size=int(row.buffer_size),
        )
        for row in front.itertuples()
    ] or [base]  # none on the front: the setting it started from


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

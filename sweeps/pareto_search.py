"""Study: multi-objective search over d_max, α, rho and buffer size (Optuna NSGA-II via Tune).

Phase 1 (``search/``): NSGA-II proposes `--trials` settings, one seed each, maximising
return_final and minimising violations_total. Phase 2 (``front/``): the settings on the
phase-1 front are re-run with the baselines and the paper's setting over every seed, so
the final Pareto table has honest statistics.

    python sweeps/pareto_search.py --trials 24
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sweeps.study import Study, main

STUDY = Study(
    name="pareto_search",
    description="NSGA-II search over d_max, margin, rho and buffer_size (--trials N settings, one seed each), "
    "then the settings on its front re-run with the baselines over every seed.",
)
SPACE = {"d_max": (0.5, 5.0), "rho": (0.5, 1.0), "buffer_size": [10, 25, 50, 100, 200]}
MARGINS = [2.0, 5.0, 10.0, 20.0]
OBJECTIVES = {"env_runners/shield/return_final": "max", "env_runners/shield/violations_total": "min"}
TRIALS = {"smoke": 3, "quick": 12, "paper": 48}


def search(plan, trials: int) -> list[dict]:
    """Phase 1; returns the settings on its front (rounded for readable tables)."""
    from optuna.samplers import NSGAIISampler
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from rllib_algos import ShieldedDQN
    from rllib_algos.artifacts import ArtifactStore
    from rllib_algos.pretrain import ensure_artifacts
    from sweeps.report import read_trials
    from sweeps.results import pareto_table
    from sweeps.study import trial_config
    from sweeps.tune_run import connect, run_config, trial_dirname

    connect()
    paths = ensure_artifacts(plan.obs, plan.artifacts, margins=MARGINS, store=ArtifactStore(plan.args.artifact_dir))
    base_setting = {"mode": "shield", "d_max": 2.5, "margin": MARGINS[0], "rho": 0.95, "buffer_size": 100, "k": 10}
    config = trial_config(plan, base_setting, paths)
    config.shield(encoder_path={str(m): paths[f"encoder_path:{m}"] for m in MARGINS})
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
    if tune.Tuner.can_restore(str(search_dir)):
        print(f"Resuming the search in {search_dir}", flush=True)
        tuner = tune.Tuner.restore(
            str(search_dir), trainable=ShieldedDQN, param_space=space, resume_unfinished=True, resume_errored=True
        )
    else:
        searcher = OptunaSearch(
            metric=list(OBJECTIVES),
            mode=list(OBJECTIVES.values()),
            sampler=NSGAIISampler(seed=0, population_size=max(4, trials // 3)),
        )
        tuner = tune.Tuner(
            ShieldedDQN,
            param_space=space,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=trials,
                max_concurrent_trials=plan.args.max_concurrent or None,
                trial_dirname_creator=trial_dirname,
                trial_name_creator=trial_dirname,
            ),
            run_config=run_config(search_dir, plan.budget.iterations),
        )
    tuner.fit()
    (search_dir / "manifest.json").write_text(f'{{"iterations": {plan.budget.iterations}}}\n')
    trials, _ = read_trials(search_dir)
    table = pareto_table(trials)
    table.to_csv(search_dir / "pareto.csv", index=False)
    front = table[table["on_front"]]
    print(f"search: {len(trials)} trials, {len(front)} on the front", flush=True)
    return [
        {
            "mode": "shield",
            "d_max": round(float(row.d_max), 2),
            "margin": float(row.margin),
            "rho": round(float(row.rho), 2),
            "buffer_size": int(row.buffer_size),
            "k": 10,
        }
        for row in front.itertuples()
    ] or [base_setting]


def run(argv: Sequence[str] | None = None) -> int:
    import argparse

    from sweeps.budgets import STUDY_BUDGETS
    from sweeps.study import parse_args, plan

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--trials", type=int)
    known, rest = pre.parse_known_args(argv)
    args = parse_args(STUDY, rest)
    trials = known.trials or TRIALS[args.budget if args.budget in STUDY_BUDGETS else "quick"]
    if trials < 1:
        print(f"error: --trials must be >= 1, got {trials}", file=sys.stderr)
        return 2
    try:
        the_plan = plan(STUDY, args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    front = search(the_plan, trials)
    phase_two = [a for a in rest if a != "--resume"] + ["--run-id", f"{the_plan.run_dir.name}/front"]
    return main(STUDY, phase_two, extra_settings=lambda _: front)


if __name__ == "__main__":
    raise SystemExit(run())

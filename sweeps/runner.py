"""Runs a plan on Ray Tune: artifacts, trials (or their restore), reuse, report, manifest.

Everything in sweeps/ that imports Ray is here. `fit` is the one Tuner create-or-restore,
shared by grid studies (`run_grid`) and the Optuna search (`sweeps.pareto_search`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune

from rllib_algos import ShieldedDQN
from rllib_algos.pretrain import ensure_artifacts
from rllib_algos.resume import CorruptCheckpointError, check_checkpoint
from rllib_algos.trial_config import TrialLength, trial_config
from shield.artifacts import ArtifactStore
from shield.settings import ShieldParams, setting_label
from shield.weights import WeightFiles
from sweeps.manifest import read_manifest, write_manifest
from sweeps.plan import Plan, TrialKey
from sweeps.report import write_report
from sweeps.results import append_trial_row, trial_row
from sweeps.reuse import canonical, copy_trial, finished_trials
from sweeps.verdicts import summary as verdict_summary

# Tune's progress table: {result or config key: column title}
PROGRESS_PARAMETERS = {"shield_config/mode": "mode", "seed": "seed"}
PROGRESS_METRICS = {
    "env_runners/num_env_steps_sampled_lifetime": "env_steps",
    "env_runners/shield/violations_total": "violations_total",
    "env_runners/shield/return_final": "return_final",
}


class TrialsCsv(tune.Callback):
    """Appends each finished trial's row to trials.csv as soon as it finishes."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        """Tune calls this once per trial that reached its stop condition (not on errors)."""
        append_trial_row(self.path, trial_row(trial.trial_id, "TERMINATED", trial.config, trial.last_result))


def run_config(run_dir: Path, iterations: int, reporter=None) -> tune.RunConfig:
    """Where a study's trials go, when they stop, retries, checkpoints and progress."""
    return tune.RunConfig(
        name=run_dir.name,
        storage_path=str(run_dir.parent),
        stop={"training_iteration": iterations},
        callbacks=[TrialsCsv(run_dir / "trials.csv")],
        progress_reporter=reporter,
        failure_config=tune.FailureConfig(max_failures=2),
        # after every iteration, so that an interruption loses at most the iteration under
        # way; the last two kept, so a checkpoint being written never leaves none behind
        checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1, num_to_keep=2),
        verbose=1,
    )


def fit(run_dir: Path, param_space: dict[str, Any], tune_config: tune.TuneConfig, iterations: int, reporter=None):
    """Run the Tune experiment in `run_dir`, or resume it when it exists; its ResultGrid."""
    if tune.Tuner.can_restore(str(run_dir)):
        # Tune needs the param space again: it holds classes it cannot pickle by value
        tuner = tune.Tuner.restore(
            str(run_dir), trainable=ShieldedDQN, param_space=param_space, resume_unfinished=True, resume_errored=True
        )
    else:
        tuner = tune.Tuner(
            ShieldedDQN,
            param_space=param_space,
            tune_config=tune_config,
            run_config=run_config(run_dir, iterations, reporter),
        )
    return tuner.fit()


def damaged_checkpoints(run_dir: Path) -> list[str]:
    """ "<trial folder>: <what is wrong>" for each unfinished trial (not in trials.csv) whose
    latest checkpoint fails `rllib_algos.resume.check_checkpoint`."""
    finished = set(pd.read_csv(run_dir / "trials.csv")["trial_id"]) if (run_dir / "trials.csv").exists() else set()
    damaged = []
    for trial in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        checkpoints = sorted(trial.glob("checkpoint_*"))
        if not checkpoints or trial.name.split("-")[0] in finished:
            continue
        try:
            check_checkpoint(checkpoints[-1])
        except CorruptCheckpointError as err:
            damaged.append(f"{trial.name}: {err}")
    return damaged


def trial_dirname(trial) -> str:
    """ "<id>-<mode>-seed<seed>" for a trial whose config is resolved when it is named (search trials)."""
    shield = trial.config.get("shield_config", {})
    return f"{trial.trial_id}-{shield.get('mode', '')}-seed{trial.config.get('seed')}"


class TrialNames:
    """Trial names "<id>-<mode>-seed<seed>" from the trial's `TrialKey` in its config (Tune
    names a trial before it resolves the settings taken from that key)."""

    def __init__(self, modes: list[str]):
        self.modes = list(modes)

    def __call__(self, trial) -> str:
        key = TrialKey.parse(trial.config[TRIAL])
        return f"{trial.trial_id}-{self.modes[key.setting]}-seed{key.seed}"


def connect() -> None:
    """Join the cluster in RAY_ADDRESS (`ray job submit` sets it) or the one started on
    this machine by `ray start` (`ray submit`); else start a local Ray."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's compact CLIReporter table
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)


def check_gpus(gpus_per_trial: float) -> None:
    """Refuse a GPU share the cluster cannot give: Tune would wait forever for it.

    Needs a connected Ray; counts the GPUs of the nodes alive now (an autoscaler adding
    GPU nodes later is not foreseen).
    """
    if gpus_per_trial <= 0:
        return
    found = ray.cluster_resources().get("GPU", 0)
    if found < gpus_per_trial:
        raise ValueError(
            f"--gpus-per-trial {gpus_per_trial:g}: the Ray cluster has {found:g} GPUs, and a trial needs "
            f"{gpus_per_trial:g}: run with --gpus-per-trial 0 (CPU only), or on a cluster with GPUs"
        )


@ray.remote(num_cpus=0)
def _read_probe(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def check_storage_shared(storage: Path) -> None:
    """Refuse a storage folder that some node of the cluster cannot read.

    Ray >= 2.7 does not copy trial folders to the head: every node must see the storage.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    if len(nodes) < 2:
        return
    storage.mkdir(parents=True, exist_ok=True)
    probe = storage / f".shared-probe-{os.getpid()}"
    token = f"{os.getpid()}-{time.time()}"
    probe.write_text(token)
    try:
        seen = ray.get(
            [
                _read_probe.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ).remote(str(probe))
                for node in nodes
            ]
        )
    finally:
        probe.unlink(missing_ok=True)
    blind = [
        node["NodeManagerAddress"] + " " + node["NodeID"][:8] for node, s in zip(nodes, seen, strict=True) if s != token
    ]
    if blind:
        raise ValueError(
            f"--storage {str(storage)!r} is not visible from node(s) {blind}: pass a path every node "
            "mounts (NFS, the compose volume /shared) or an object store URI"
        )


def study_weights(plan: Plan, margins: Sequence[float] | None = None) -> WeightFiles:
    """The plan's frozen networks (Q_p and one encoder per margin), built when missing."""
    store = ArtifactStore(plan.args.artifact_dir)
    return ensure_artifacts(
        plan.obs,
        plan.pretrain_budget,
        margins=margins or plan.margins,
        store=store,
        encoder=plan.encoder,
        prior_route=plan.prior_route,
    )


def trial_length(plan: Plan) -> TrialLength:
    return TrialLength(plan.budget.env_steps, plan.budget.iterations, plan.budget.eval_episodes)


TRIAL = "trial"  # the param space's key of a trial's `TrialKey`, written "<setting>:<seed>"


def trial_space(config_dicts: Sequence[dict[str, Any]], keys: Sequence[TrialKey]) -> dict[str, Any]:
    """Tune's param space for the trials `keys` (each setting an index into `config_dicts`).

    One grid over the keys, from which each trial takes its shield settings and its seed;
    the seed is also the fixed layout (one layout per seed, as the paper). A grid of keys
    rather than settings × seeds, so that trials reused from earlier runs can be left out.
    """
    shield_configs = [config["shield_config"] for config in config_dicts]
    space = dict(config_dicts[0])
    space[TRIAL] = tune.grid_search([str(key) for key in keys])
    # functions of the config itself (Tune warns about functions of a spec, once per trial)
    space["seed"] = tune.sample_from(lambda config: TrialKey.parse(config[TRIAL]).seed)
    space["shield_config"] = tune.sample_from(lambda config: shield_configs[TrialKey.parse(config[TRIAL]).setting])
    space["env_config"] = dict(space["env_config"]) | {
        "layout_seed": tune.sample_from(lambda config: TrialKey.parse(config[TRIAL]).seed)
    }
    return space


def resolved_config(config_dict: dict[str, Any], seed: int) -> dict[str, Any]:
    """The configuration a trial of `config_dict` with `seed` runs, as Tune writes it to params.json."""
    from ray.air._internal.json import SafeFallbackEncoder

    resolved = dict(config_dict) | {"seed": seed}
    resolved["env_config"] = dict(resolved["env_config"]) | {"layout_seed": seed}
    return json.loads(json.dumps(resolved, cls=SafeFallbackEncoder))


def run_grid(plan: Plan, keys: Sequence[TrialKey] | None = None, reuse_root: Path | None = None) -> int:
    """Run (or resume) a grid study: every setting of the plan over its seeds, or only the
    trials `keys`; exit code. reuse_root: where to look for finished trials to copy when
    ``--no-reuse`` is given (earlier rounds of the same study)."""
    started = time.time()
    run_dir = plan.run_dir
    resuming = tune.Tuner.can_restore(str(run_dir))
    if plan.resume and not resuming:
        print(
            f"error: --resume: no run to resume in {run_dir}; run the same command without --resume to start it "
            "(or pass the --run-id and --storage of the run to resume)",
            file=sys.stderr,
        )
        return 2
    damaged = damaged_checkpoints(run_dir) if resuming else []
    if damaged:
        print(
            f"error: cannot resume {run_dir}: damaged checkpoint(s):\n  " + "\n  ".join(damaged) + "\n"
            "Start the study afresh with another --run-id (its finished trials are copied from --storage, "
            "only the unfinished ones train again), or delete that folder and rerun the command.",
            file=sys.stderr,
        )
        return 2
    connect()
    try:
        check_gpus(plan.gpus_per_trial)
        check_storage_shared(run_dir.parent)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    weights = study_weights(plan)
    configs = [
        trial_config(
            plan.env, plan.obs, plan.agent, trial_length(plan), s, weights, plan.gpus_per_trial, plan.lava_look
        )
        for s in plan.settings
    ]
    for config in configs:
        config.validate_shield()
    config_dicts = [config.to_dict() for config in configs]
    keys = list(keys or plan.trial_keys)
    reused = reused_trials(plan, config_dicts, keys, resuming, reuse_root)
    extra = {"artifacts": weights.to_dict(), "resumed": resuming, "reused_trials": reused}
    write_manifest(plan, started, None, extra)
    remaining = [key for key in keys if str(key) not in reused]
    print(
        f"{'Resuming' if resuming else 'Starting'} study {plan.study.name}: {len(plan.settings)} settings, "
        f"{len({key.seed for key in keys})} seeds, {len(keys)} trials ({len(reused)} reused from earlier runs) "
        f"-> {run_dir}",
        flush=True,
    )
    errors = 0
    if remaining:
        grid_columns = {f"shield_config/{key}": key for key in plan.study.grid}
        reporter = tune.CLIReporter(
            parameter_columns=PROGRESS_PARAMETERS | grid_columns,
            metric_columns=PROGRESS_METRICS,
            max_report_frequency=30,
        )
        names = TrialNames([setting.mode for setting in plan.settings])
        tune_config = tune.TuneConfig(
            max_concurrent_trials=plan.args.max_concurrent or None,
            trial_dirname_creator=names,
            trial_name_creator=names,
        )
        results = fit(run_dir, trial_space(config_dicts, remaining), tune_config, plan.budget.iterations, reporter)
        errors = sum(1 for r in results if r.error is not None)
    outputs = write_report(run_dir, title=f"{plan.study.name} ({plan.env}, {plan.obs}, {plan.budget.name})")
    write_manifest(plan, started, time.time(), extra)
    if plan.study.after_run is not None:
        plan.study.after_run(run_dir)
    print(f"\n{plan.study.name}: {len(keys) - errors} trials finished, {errors} failed.")
    if (run_dir / "pareto.csv").exists():
        print(verdict_summary(pd.read_csv(run_dir / "pareto.csv")))
    print("Tables and plots:")
    for name, path in outputs.items():
        print(f"  {name:22s} {path}")
    return 1 if errors else 0


def reused_trials(
    plan: Plan,
    config_dicts: list[dict],
    keys: list[TrialKey],
    resuming: bool,
    reuse_root: Path | None = None,
) -> dict[str, str]:
    """{str(`TrialKey`): source trial folder} of the trials copied from earlier runs.

    A new run looks for finished trials with the same configuration anywhere in its
    storage and copies them in (with their trials.csv rows); with ``--no-reuse``, only
    under `reuse_root` (none when it is None). A resumed run keeps the choice its first
    attempt made (Tune's restore needs the same trials).
    """
    if resuming:
        return read_manifest(plan.run_dir).get("reused_trials", {})
    root = reuse_root if plan.args.no_reuse else plan.storage
    if root is None:
        return {}
    found = finished_trials(root, plan.budget.iterations, exclude=plan.run_dir)
    reused = {}
    for key in keys:
        source = found.get(canonical(resolved_config(config_dicts[key.setting], key.seed)))
        if source is None:
            continue
        copied = copy_trial(source, plan.run_dir)
        results = [json.loads(line) for line in (copied / "result.json").read_text().splitlines() if line.strip()]
        config = json.loads((copied / "params.json").read_text())
        trial_id = str(results[-1].get("trial_id", copied.name))
        append_trial_row(plan.run_dir / "trials.csv", trial_row(trial_id, "TERMINATED", config, results[-1]))
        reused[str(key)] = str(source)
    return reused


def run_phase(plan: Plan, run_id: str, extra_settings: Sequence[ShieldParams]) -> int:
    """Run `plan`'s study again with `extra_settings` beside its grid, into the sub-folder
    `run_id` of its storage (the second phase of a search)."""
    from sweeps.plan import make_plan

    phase = replace(make_plan(plan.study, plan.args, extra_settings=extra_settings, run_id=run_id), resume=False)
    return run_rounds(phase) if phase.first_round is not None else run_grid(phase)


def setting_labels(plan: Plan) -> list[str]:
    """The pareto.csv label of each of the plan's settings, in order."""
    return [setting_label(s) for s in plan.settings]


def run_rounds(plan: Plan) -> int:
    """Run (or resume) a `--seeds auto` study: rounds ``round-<k>/`` in the run folder, each
    the study on every seed so far (earlier rounds' trials copied in, only the new ones
    trained), until no setting is undecided or the cap is reached (`sweeps.rounds`). The last
    round's tables and plots are copied into the run folder, its manifest lists the rounds;
    exit code. A resumed study replays its rounds: finished ones restore at once."""
    from sweeps.report import PUBLISHED
    from sweeps.rounds import next_seeds, round_record

    started = time.time()
    top = plan.run_dir
    if plan.resume and not (top / "round-1").exists():
        print(
            f"error: --resume: no run to resume in {top}; run the same command without --resume to start it",
            file=sys.stderr,
        )
        return 2
    labels = setting_labels(plan)
    ran = {label: list(plan.seeds[: plan.first_round]) for label in labels}
    rounds: list[dict] = []
    code = 0
    while True:
        number = len(rounds) + 1
        round_dir = top / f"round-{number}"
        keys = [TrialKey(i, seed) for i, label in enumerate(labels) for seed in ran[label]]
        # the study's after_run (publishing, say) runs once, on the study's folder, not per round
        round_plan = replace(plan, run_dir=round_dir, resume=False, study=replace(plan.study, after_run=None))
        code = max(code, run_grid(round_plan, keys, reuse_root=top))
        if code == 2:  # refused before training (a damaged checkpoint, a cluster check): said why
            return code
        table = pd.read_csv(round_dir / "pareto.csv")
        reused = read_manifest(round_dir).get("reused_trials", {})
        rounds.append(round_record(number, table, ran, len(keys) - len(reused)))
        write_manifest(replace(plan, run_dir=top), started, None, {"rounds": rounds})
        decided = table["verdict"].value_counts().to_dict()
        print(f"round {number}: {len(keys)} trials; verdicts {decided}", flush=True)
        more = next_seeds(table, ran, plan.seeds, len(plan.seeds))
        if code or not more:
            break
        for label, seed in more.items():
            ran[label].append(seed)
    for pattern in PUBLISHED:
        for path in round_dir.glob(pattern):
            shutil.copy2(path, top / path.name)
    undecided = table.loc[table["verdict"] == "undecided", "setting"].tolist() if not code else []
    write_manifest(replace(plan, run_dir=top), started, time.time(), {"rounds": rounds, "undecided_at_cap": undecided})
    if plan.study.after_run is not None:
        plan.study.after_run(top)
    if code:
        ending = "stopped: some trials failed (rerun the command to retry them)"
    elif undecided:
        ending = f"undecided at the cap of {len(plan.seeds)} seeds: {undecided}"
    else:
        ending = "every setting decided"
    print(
        f"\n{plan.study.name}: {len(rounds)} rounds, {rounds[-1]['trials']} trials; {ending}\nTables and plots: {top}"
    )
    return code

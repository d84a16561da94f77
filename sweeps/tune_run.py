"""The Tune side of a grid study: artifacts, the Tuner (or its restore), rows, report."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the compact CLIReporter table below

import ray  # noqa: E402
from ray import tune  # noqa: E402

from rllib_algos import ShieldedDQN  # noqa: E402
from rllib_algos.artifacts import ArtifactStore  # noqa: E402
from rllib_algos.pretrain import ensure_artifacts  # noqa: E402
from sweeps.report import write_report  # noqa: E402
from sweeps.results import append_trial_row, trial_row  # noqa: E402
from sweeps.reuse import canonical, copy_trial, finished_trials  # noqa: E402
from sweeps.study import Plan, resolved_config, trial_config, trial_space, write_manifest  # noqa: E402

PARAMETER_COLUMNS = {"shield_config/mode": "mode", "seed": "seed"}
METRIC_COLUMNS = {
    "env_runners/num_env_steps_sampled_lifetime": "env_steps",
    "env_runners/shield/violations_total": "violations_total",
    "env_runners/shield/return_final": "return_final",
}


class TrialsCsv(tune.Callback):
    """Appends each finished trial's row to trials.csv as soon as it finishes."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
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
        # two checkpoints per trial, all kept (num_to_keep would force a state snapshot on each)
        checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=max(1, iterations // 2)),
        verbose=1,
    )


def trial_dirname(trial) -> str:
    """ "<id>-<mode>-seed<seed>" for a trial whose config is resolved when it is named (search trials)."""
    shield = trial.config.get("shield_config", {})
    return f"{trial.trial_id}-{shield.get('mode', '')}-seed{trial.config.get('seed')}"


class TrialNames:
    """Trial names "<id>-<mode>-seed<seed>" from the trial's grid key "<setting index>:<seed>"
    (Tune names a trial before it resolves the settings taken from that key)."""

    def __init__(self, modes: list[str]):
        self.modes = list(modes)

    def __call__(self, trial) -> str:
        index, seed = str(trial.config["trial"]).split(":")
        return f"{trial.trial_id}-{self.modes[int(index)]}-seed{seed}"


def connect() -> None:
    """Join the cluster in RAY_ADDRESS (`ray job submit` sets it) or the one started on
    this machine by `ray start` (`ray submit`); else start a local Ray."""
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)


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


def run_grid(plan: Plan) -> int:
    started = time.time()
    run_dir = plan.run_dir
    resuming = tune.Tuner.can_restore(str(run_dir))
    if plan.args.resume and not resuming:
        print(f"error: --resume: no run to resume in {run_dir}", file=sys.stderr)
        return 2
    connect()
    try:
        check_storage_shared(plan.run_dir.parent)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = ArtifactStore(plan.args.artifact_dir)
    paths = ensure_artifacts(plan.obs, plan.artifacts, margins=plan.margins or [10.0], store=store)
    configs = [trial_config(plan, setting, paths) for setting in plan.settings]
    for config in configs:
        config.validate_shield()
    config_dicts = [config.to_dict() for config in configs]
    pairs = [(index, seed) for index in range(len(configs)) for seed in plan.seeds]
    reused = reused_trials(plan, config_dicts, pairs, resuming)
    extra = {"artifacts": paths, "resumed": resuming, "reused_trials": reused}
    write_manifest(plan, started, None, extra)
    remaining = [pair for pair in pairs if f"{pair[0]}:{pair[1]}" not in reused]
    print(
        f"{'Resuming' if resuming else 'Starting'} study {plan.study.name}: {len(plan.settings)} settings x "
        f"{len(plan.seeds)} seeds = {len(pairs)} trials ({len(reused)} reused from earlier runs) -> {run_dir}",
        flush=True,
    )
    results = run_trials(plan, config_dicts, remaining, resuming) if remaining else []
    outputs = write_report(run_dir, title=f"{plan.study.name} ({plan.args.env}, {plan.obs}, {plan.budget.name})")
    write_manifest(plan, started, time.time(), extra)
    if plan.study.after_run is not None:
        plan.study.after_run(run_dir)
    errors = sum(1 for r in results if r.error is not None)
    print(f"\n{plan.study.name}: {len(pairs) - errors} trials finished, {errors} failed. Tables and plots:")
    for name, path in outputs.items():
        print(f"  {name:22s} {path}")
    return 1 if errors else 0


def reused_trials(plan: Plan, config_dicts: list[dict], pairs: list[tuple[int, int]], resuming: bool) -> dict:
    """{"<setting index>:<seed>": source trial folder} of the trials copied from earlier runs.

    A new run looks for finished trials with the same configuration anywhere in its
    storage and copies them in (with their trials.csv rows); a resumed run keeps the
    choice its first attempt made (Tune's restore needs the same trials).
    """
    from sweeps.report import MANIFEST

    if resuming:
        manifest = json.loads((plan.run_dir / MANIFEST).read_text()) if (plan.run_dir / MANIFEST).exists() else {}
        return manifest.get("reused_trials", {})
    if plan.args.no_reuse:
        return {}
    storage = Path(plan.args.storage).expanduser().resolve()
    found = finished_trials(storage, plan.budget.iterations, exclude=plan.run_dir)
    reused = {}
    for index, seed in pairs:
        source = found.get(canonical(resolved_config(config_dicts[index], seed)))
        if source is None:
            continue
        copied = copy_trial(source, plan.run_dir)
        results = [json.loads(line) for line in (copied / "result.json").read_text().splitlines() if line.strip()]
        config = json.loads((copied / "params.json").read_text())
        trial_id = str(results[-1].get("trial_id", copied.name))
        append_trial_row(plan.run_dir / "trials.csv", trial_row(trial_id, "TERMINATED", config, results[-1]))
        reused[f"{index}:{seed}"] = str(source)
    return reused


def run_trials(plan: Plan, config_dicts: list[dict], pairs: list[tuple[int, int]], resuming: bool):
    """Run (or resume) the Tune experiment of `pairs` [(setting index, seed)]; its ResultGrid."""
    run_dir = plan.run_dir
    param_space = trial_space(config_dicts, pairs)
    if resuming:  # Tune needs the param space again: it holds classes it cannot pickle by value
        tuner = tune.Tuner.restore(
            str(run_dir), trainable=ShieldedDQN, param_space=param_space, resume_unfinished=True, resume_errored=True
        )
    else:
        grid_columns = {f"shield_config/{key}": key for key in plan.study.grid}
        reporter = tune.CLIReporter(
            parameter_columns=PARAMETER_COLUMNS | grid_columns, metric_columns=METRIC_COLUMNS, max_report_frequency=30
        )
        names = TrialNames([config["shield_config"]["mode"] for config in config_dicts])
        tuner = tune.Tuner(
            ShieldedDQN,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=plan.args.max_concurrent or None,
                trial_dirname_creator=names,
                trial_name_creator=names,
            ),
            run_config=run_config(run_dir, plan.budget.iterations, reporter),
        )
    return tuner.fit()

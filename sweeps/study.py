"""What every study shares: command line, validation, the Tune run, results and resume.

A study script declares a `Study` (its name and the grid of shield settings it varies)
and calls `main(study)`. Every study also runs its baselines (by default `dqn` and
`priors`), repeats every setting over seeds, and writes its tables into
``<storage>/<study>/<run-id>/``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from shield.agents import AGENT_PRESETS, DEFAULT_AGENT, agent_preset
from shield.pretrain_data import PRETRAIN_BUDGETS
from sweeps.budgets import STUDY_BUDGETS, StudyBudget, seeds_for

DEFAULTS: dict[str, Any] = {"d_max": 2.5, "margin": 10.0, "rho": 0.95, "buffer_size": 100, "k": 10}
GRID_TYPES: dict[str, type] = {"d_max": float, "margin": float, "rho": float, "buffer_size": int, "k": int}
BASELINES = ({"mode": "dqn"}, {"mode": "priors", "rho": DEFAULTS["rho"]})
DEFAULT_ENV = "MiniGrid-LavaCrossingS9N1-v0"
DEFAULT_STORAGE = "results"


@dataclass(frozen=True)
class Study:
    """A study: its name, what it is for, and the default grid of shield settings it varies."""

    name: str
    description: str
    grid: dict[str, Sequence[Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # command-line defaults, e.g. {"budget": "paper"}
    after_run: Callable[[Path], None] | None = None  # called with the run folder once its report is written
    baselines: tuple[dict[str, Any], ...] = BASELINES  # settings run beside the grid, over the same seeds


PUBLISHED = ("*.csv", "*.png", "manifest.json")


def publish(run_dir: Path) -> None:
    """Copy a run's tables, plots and manifest beside the run folders, one folder per agent
    preset (``<storage>/<study>/<agent>/``: the committed results/reproduce/nstep3/, ...)."""
    agent = json.loads((Path(run_dir) / "manifest.json").read_text()).get("agent", "paper")
    target = Path(run_dir).parent / agent
    target.mkdir(exist_ok=True)
    for pattern in PUBLISHED:
        for path in Path(run_dir).glob(pattern):
            shutil.copy2(path, target / path.name)


def shield_settings(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the other settings at the paper's values."""
    keys = list(grid)
    return [
        {"mode": "shield", **DEFAULTS, **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*grid.values())
    ]


def parse_args(study: Study, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"sweeps/{study.name}.py",
        description=study.description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--env", default=DEFAULT_ENV, help="MiniGrid environment id")
    parser.add_argument("--obs", choices=["symbolic", "pixels"], help="observations (default: the budget's)")
    parser.add_argument("--budget", choices=list(STUDY_BUDGETS), default="quick")
    parser.add_argument(
        "--seeds",
        type=int,
        help="seeds per setting, each its own fixed layout (123, 456, 789, 1000, ...; quick budget: 123, 789, 456, "
        "...); default: the budget's (quick 2, paper 5)",
    )
    parser.add_argument(
        "--agent",
        choices=sorted(AGENT_PRESETS),
        default=DEFAULT_AGENT,
        help="DQN preset: 'paper' is the paper's agent exactly; the default adds 3-step returns",
    )
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="results folder: local, or a path every node sees")
    parser.add_argument("--run-id", help="run folder name (default: derived from the study's settings)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run (keeps finished trials)")
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="train every trial, even one whose configuration matches a finished trial in --storage",
    )
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: as many as CPUs allow)")
    parser.add_argument("--artifact-dir", help="pretraining artifacts (default: $SHIELDSWEEP_ARTIFACTS or ./artifacts)")
    parser.add_argument(
        "--artifacts",
        choices=list(PRETRAIN_BUDGETS),
        help="pretraining budget of the encoder and Q_p (default: the study budget's)",
    )
    for key in study.grid:
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            type=GRID_TYPES[key],
            nargs="+",
            default=list(study.grid[key]),
            help=f"values of {key} to sweep",
        )
    parser.set_defaults(**study.defaults)
    return parser.parse_args(argv)


@dataclass
class Plan:
    """A study resolved from the command line: everything needed before compute starts."""

    study: Study
    args: argparse.Namespace
    budget: StudyBudget
    obs: str
    artifacts: str  # pretraining budget of the encoder and Q_p
    seeds: list[int]
    settings: list[dict[str, Any]]
    run_dir: Path

    @property
    def margins(self) -> list[float]:
        return shield_margins(self.settings)


def shield_margins(settings: Sequence[dict]) -> list[float]:
    """The encoder margins α the shield settings need, sorted."""
    return sorted({float(s["margin"]) for s in settings if s["mode"] == "shield"})


def run_id_for(study: Study, args: argparse.Namespace, obs: str, artifacts: str, settings: list[dict]) -> str:
    """A run id derived from what the run computes, so re-running the same command resumes it.

    It includes the keys of the Q_p and encoder artifacts, so a run with rebuilt or
    re-specified networks starts afresh instead of resuming one made with the old ones.
    """
    from rllib_algos.pretrain import encoder_spec, prior_spec  # imports Ray: only once the inputs are checked

    keys = [prior_spec(obs, artifacts).key, *(encoder_spec(obs, artifacts, m).key for m in shield_margins(settings))]
    identity = [study.name, args.env, obs, args.budget, args.agent, args.seeds, settings, keys]
    identity = json.dumps(identity, sort_keys=True, default=str)
    short_env = args.env.replace("MiniGrid-", "").replace("-v0", "")
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{short_env}-{obs}-{args.budget}-{args.agent}-{digest}"


def plan(study: Study, args: argparse.Namespace, extra_settings: Sequence[dict] = ()) -> Plan:
    """Check every input and resolve the study, before Ray starts (ValueError on bad input)."""
    from shield.decision import ShieldParams
    from shield.envs import check_env_id, check_obs_kind

    check_env_id(args.env)
    budget = STUDY_BUDGETS[args.budget]
    obs = args.obs or budget.obs
    check_obs_kind(obs)
    agent_preset(args.agent)
    if args.seeds is None:
        args.seeds = budget.seeds
    seeds = seeds_for(args.seeds, budget.first_seeds)
    if args.max_concurrent < 0:
        raise ValueError(f"--max-concurrent must be >= 0, got {args.max_concurrent}")
    grid = {key: getattr(args, key) for key in study.grid}
    settings = []
    for setting in [*study.baselines, *shield_settings(grid), *extra_settings]:
        if dict(setting) not in settings:  # a searched setting may equal a grid one
            settings.append(dict(setting))
    for setting in settings:
        try:
            ShieldParams.from_settings(setting)
        except ValueError as err:
            flag = next((f"--{k.replace('_', '-')}" for k in grid if k in str(err).split()[0]), "")
            raise ValueError(f"{err}{f' (from {flag})' if flag else ''}") from err
        if setting.get("margin") is not None and not float(setting["margin"]) > 0:
            raise ValueError(f"margin must be > 0, got {setting['margin']} (from --margin)")
    storage = Path(args.storage).expanduser().resolve()
    check_storage(storage)
    artifacts = args.artifacts or budget.artifacts
    run_id = args.run_id or run_id_for(study, args, obs, artifacts, settings)
    return Plan(study, args, budget, obs, artifacts, seeds, settings, storage / study.name / run_id)


def check_storage(storage: Path) -> None:
    """Refuse a storage folder this process cannot create or write into."""
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"--storage {str(storage)!r} is not writable: {err}") from err


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def started_commit(plan: Plan, finished: float | None) -> str | None:
    """The commit the run started with: the start manifest's, once the run has finished."""
    from sweeps.report import MANIFEST

    start_manifest = plan.run_dir / MANIFEST
    if finished is not None and start_manifest.exists():
        return json.loads(start_manifest.read_text()).get("git_commit")
    return git_commit()


def write_manifest(plan: Plan, started: float, finished: float | None, extra: dict[str, Any]) -> None:
    from sweeps.report import MANIFEST

    versions = {}
    for package in ("shieldsweep", "ray", "torch", "gymnasium", "minigrid", "optuna"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    manifest = {
        "study": plan.study.name,
        "command": [sys.executable, *sys.argv],
        "git_commit": started_commit(plan, finished),
        "versions": versions,
        "env": plan.args.env,
        "obs": plan.obs,
        "budget": vars(plan.budget),
        "agent": plan.args.agent,
        "agent_deviations_from_paper": list(agent_preset(plan.args.agent).deviations),
        "artifact_budget": plan.artifacts,
        "iterations": plan.budget.iterations,
        "seeds": plan.seeds,
        "settings": plan.settings,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)) if finished else None,
        "wall_s": (finished - started) if finished else None,
        **extra,
    }
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    (plan.run_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


def trial_config(plan: Plan, setting: dict[str, Any], paths: dict[str, str]):
    """The ShieldedDQNConfig of one setting (seed filled in by Tune)."""
    from rllib_algos import ShieldedDQNConfig
    from rllib_algos.paper_dqn import for_budget

    shield = dict(setting)
    if shield["mode"] != "dqn":
        shield["prior_q_path"] = paths["prior_q_path"]
    if shield["mode"] == "shield":
        shield["encoder_path"] = paths[f"encoder_path:{float(shield['margin'])}"]
    steps_per_iteration = -(-plan.budget.env_steps // plan.budget.iterations)
    config = (
        for_budget(ShieldedDQNConfig().agent(plan.args.agent), plan.budget.env_steps)
        .environment(plan.args.env, env_config={"obs": plan.obs})
        .shield(**shield)
        .reporting(min_sample_timesteps_per_iteration=steps_per_iteration)
        .evaluation(
            evaluation_interval=plan.budget.iterations,
            evaluation_duration=plan.budget.eval_episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=0,
            evaluation_config={"explore": False, "num_envs_per_env_runner": 1},
        )
    )
    return config


def trial_space(config_dicts: Sequence[dict[str, Any]], pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Tune's param space for the trials `pairs` [(index into config_dicts, seed)].

    One grid over the pairs (key ``trial``: "<setting index>:<seed>"), from which each
    trial takes its shield settings and its seed; the seed is also the fixed layout (one layout per seed, as the
    paper). A grid of pairs rather than settings × seeds, so that trials reused from
    earlier runs can be left out.
    """
    from ray import tune

    shield_configs = [config["shield_config"] for config in config_dicts]
    space = dict(config_dicts[0])
    space["trial"] = tune.grid_search([f"{index}:{seed}" for index, seed in pairs])
    space["seed"] = tune.sample_from(lambda spec: int(spec.config.trial.split(":")[1]))
    space["shield_config"] = tune.sample_from(lambda spec: shield_configs[int(spec.config.trial.split(":")[0])])
    space["env_config"] = dict(space["env_config"]) | {
        "layout_seed": tune.sample_from(lambda spec: int(spec.config.trial.split(":")[1]))
    }
    return space


def resolved_config(config_dict: dict[str, Any], seed: int) -> dict[str, Any]:
    """The configuration a trial of `config_dict` with `seed` runs, as Tune writes it to params.json."""
    from ray.air._internal.json import SafeFallbackEncoder

    resolved = dict(config_dict) | {"seed": seed}
    resolved["env_config"] = dict(resolved["env_config"]) | {"layout_seed": seed}
    return json.loads(json.dumps(resolved, cls=SafeFallbackEncoder))


def main(
    study: Study, argv: Sequence[str] | None = None, extra_settings: Callable[[argparse.Namespace], list] | None = None
) -> int:
    """Run `study` from the command line; return the exit code."""
    args = parse_args(study, argv)
    try:
        the_plan = plan(study, args, extra_settings(args) if extra_settings else ())
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from sweeps.tune_run import run_grid

    return run_grid(the_plan)

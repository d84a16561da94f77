"""A run's manifest.json: what ran, with which code and packages, and when.

Written when a run starts and again when it finishes (then with its wall time); the
finished manifest keeps the commit the run started with. Its keys are documented in
results/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shield.agents import agent_preset
from shield.artifacts import versions

if TYPE_CHECKING:
    from sweeps.plan import Plan

MANIFEST = "manifest.json"
PACKAGES = ("shieldsweep", "ray", "torch", "gymnasium", "minigrid", "optuna")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, or {} when it has none."""
    path = Path(run_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def git_commit() -> str | None:
    """The commit of this checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_manifest(plan: Plan, started: float, finished: float | None, extra: dict[str, Any]) -> None:
    """Write the run's manifest.json; `extra` adds run-time facts (artifacts, reuse, ...)."""
    commit = read_manifest(plan.run_dir).get("git_commit") if finished is not None else None
    manifest = {
        "study": plan.study.name,
        "command": [sys.executable, *sys.argv],
        "git_commit": commit or git_commit(),
        "versions": versions(PACKAGES),
        "env": plan.env,
        "obs": plan.obs,
        "budget": vars(plan.budget),
        "agent": plan.agent,
        "agent_deviations_from_paper": list(agent_preset(plan.agent).deviations),
        "pretrain_budget": plan.pretrain_budget,
        "latent_loss": plan.encoder.latent_loss,
        "encoder_envs": list(plan.encoder.encoder_envs),
        "iterations": plan.budget.iterations,
        "seeds": plan.seeds,
        "gpus_per_trial": plan.gpus_per_trial,
        "settings": [s.to_dict() for s in plan.settings],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)) if finished else None,
        "wall_s": (finished - started) if finished else None,
        **extra,
    }
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    (plan.run_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")

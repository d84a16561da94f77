"""Reuse of finished trials: a trial whose full configuration matches one already finished
in the same storage is copied instead of trained again.

The `dqn` and `priors` baselines do not depend on the setting a study sweeps, so every
study on the same environment, budget, agent and seeds would otherwise train them again.
Matching is on the whole trial configuration as Tune wrote it to ``params.json`` (seed,
layout, agent, budget, the shield settings its mode uses, weight files), so only a trial
that computed exactly the same thing is reused. The Learner's device counts, its share of a GPU does not
(``num_gpus_per_learner``, `--gpus-per-trial`): a GPU rounds differently from a CPU
(other kernels and summation orders; TF32 convolutions where cuDNN allows them), while
0.25 and 0.5 of a GPU run the same kernels. Pure file and JSON work: no Ray.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from shield.settings import MODES, ShieldParams

PARAMS = "params.json"
RESULTS = "result.json"
# Keys of a trial's params.json that do not change what it computes.
IGNORED_KEYS = ("trial",)
SHIELD_CONFIG = "shield_config"
REPLAY = "replay_buffer_config"
# The key whose value matters only as "on a GPU or not" (see the module docstring).
GPU_SHARE = "num_gpus_per_learner"
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")  # reprs of functions differ from process to process


def canonical(config: dict[str, Any]) -> str:
    """A trial configuration as one comparable string (params.json's JSON, addresses removed,
    the shield settings its mode does not use left out, the GPU share reduced to whether
    there is one)."""
    kept = {key: value for key, value in config.items() if key not in IGNORED_KEYS}
    shield = kept.get(SHIELD_CONFIG)
    if isinstance(shield, dict) and shield.get("mode") in MODES:
        # settings that do not act in the trial (a dqn trial's d_max) change nothing it
        # computes: a default moved since does not keep it from being reused
        acting = {"weights", *ShieldParams.from_settings(shield).acting_names()}
        kept[SHIELD_CONFIG] = {key: value for key, value in shield.items() if key in acting}
    replay = kept.get(REPLAY)
    if isinstance(replay, dict):
        # what the replay computes with: its capacity and alpha (its "type" names the class
        # that holds them, RLlib's in configs stored before PaperDQN said it builds none)
        kept[REPLAY] = {key: replay.get(key) for key in ("capacity", "alpha")}
    if GPU_SHARE in kept:
        kept[GPU_SHARE] = int(kept[GPU_SHARE] > 0)
    return _ADDRESS.sub("", json.dumps(kept, sort_keys=True, default=str))


def finished_iterations(trial_dir: Path) -> int:
    """The last training iteration in the trial's result.json (0 when it has none)."""
    path = Path(trial_dir) / RESULTS
    if not path.exists():
        return 0
    last = 0
    for line in path.read_text().splitlines():
        if line.strip():
            last = max(last, int(json.loads(line).get("training_iteration", 0)))
    return last


def finished_trials(storage: Path, iterations: int, exclude: Path | None = None) -> dict[str, Path]:
    """{canonical config: trial folder} of every trial under `storage` that reached
    `iterations` (folders under `exclude`, the run being planned, are left out)."""
    found: dict[str, Path] = {}
    for params in sorted(Path(storage).glob(f"**/{PARAMS}")):
        trial_dir = params.parent
        if exclude is not None and Path(exclude) in trial_dir.parents:
            continue
        if finished_iterations(trial_dir) < iterations:
            continue
        try:
            config = json.loads(params.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        found.setdefault(canonical(config), trial_dir)
    return found


def copy_trial(source: Path, run_dir: Path) -> Path:
    """Copy a finished trial's params and results (not its checkpoints) into `run_dir`."""
    target = Path(run_dir) / f"reused-{Path(source).name}"
    target.mkdir(parents=True, exist_ok=True)
    for name in (PARAMS, RESULTS):
        shutil.copy2(Path(source) / name, target / name)
    return target

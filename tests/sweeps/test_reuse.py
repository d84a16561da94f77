"""Finding finished trials to reuse (pure file work, no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

from sweeps.reuse import canonical, copy_trial, finished_trials


def write_trial(folder: Path, config: dict, iterations: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(config))
    lines = [json.dumps({"training_iteration": i, "trial_id": folder.name}) for i in range(1, iterations + 1)]
    (folder / "result.json").write_text("\n".join(lines) + "\n")
    return folder


def test_canonical_ignores_key_order_function_addresses_and_the_tune_grid_key():
    a = {"seed": 1, "fn": "<function f at 0x7f3925d0eac0>", "trial": {"seed": 1}, "x": [1, 2]}
    b = {"x": [1, 2], "fn": "<function f at 0x7f0000000000>", "seed": 1}
    assert canonical(a) == canonical(b)
    assert canonical(a) != canonical(b | {"seed": 2})


def test_only_finished_trials_outside_the_planned_run_are_found(tmp_path):
    config = {"seed": 123, "shield_config": {"mode": "dqn"}}
    done = write_trial(tmp_path / "threshold" / "run1" / "t1", config, iterations=8)
    write_trial(tmp_path / "threshold" / "run1" / "t2", config | {"seed": 456}, iterations=3)  # interrupted
    write_trial(tmp_path / "rho" / "run2" / "t3", config | {"seed": 789}, iterations=8)
    found = finished_trials(tmp_path, iterations=8, exclude=tmp_path / "rho" / "run2")
    assert found == {canonical(config): done}
    copied = copy_trial(done, tmp_path / "rho" / "run2")
    assert copied.parent == tmp_path / "rho" / "run2" and (copied / "result.json").exists()
    assert json.loads((copied / "params.json").read_text()) == config


def test_settings_a_mode_does_not_use_do_not_block_reuse():
    dqn = {"seed": 1, "shield_config": {"mode": "dqn", "d_max": 2.5, "d_max_rule": "fixed", "weights": "W"}}
    moved = {"seed": 1, "shield_config": {"mode": "dqn", "d_max": 1.0, "d_max_rule": "capped", "weights": "W"}}
    assert canonical(dqn) == canonical(moved)
    shield = {"seed": 1, "shield_config": {**dqn["shield_config"], "mode": "shield"}}
    assert canonical(shield) != canonical({"seed": 1, "shield_config": {**moved["shield_config"], "mode": "shield"}})
    priors = {"seed": 1, "shield_config": {"mode": "priors", "rho": 0.95, "d_max": 2.5}}
    assert canonical(priors) != canonical({"seed": 1, "shield_config": {"mode": "priors", "rho": 0.5, "d_max": 2.5}})
    assert canonical(priors) == canonical({"seed": 1, "shield_config": {"mode": "priors", "rho": 0.95, "d_max": 9.0}})


def test_the_replay_compares_by_capacity_and_alpha_only():
    ours = {
        "replay_buffer_config": {
            "type": "TransitionReplay",
            "no_local_replay_buffer": True,
            "capacity": 10,
            "alpha": 0.5,
        }
    }
    stored = {
        "replay_buffer_config": {"type": "PrioritizedEpisodeReplayBuffer", "beta": 0.4, "capacity": 10, "alpha": 0.5}
    }
    assert canonical(ours) == canonical(stored)
    other = {"replay_buffer_config": {"type": "TransitionReplay", "capacity": 10, "alpha": 0.6}}
    assert canonical(ours) != canonical(other)

"""Exact resume: a trial restored from a checkpoint in a new process continues as the
uninterrupted trial does (real ShieldedDQN, real MiniGrid, the committed encoder and Q_p).

Each run is a fresh interpreter running this file (`python test_resume.py ...`), so that
the restore sees nothing of the process that saved.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ITERATIONS_BEFORE_SAVE = 3


def build():
    """A shield trial at a small budget (learning starts at 500 steps, so the iterations
    after the checkpoint train, target copies and all)."""
    from rllib_algos.pretrain_budgets import encoder_spec, prior_spec
    from rllib_algos.trial_config import TrialBudget, trial_config
    from shield.artifacts import ArtifactStore
    from shield.envs import DEFAULT_ENV
    from shield.settings import DEFAULT_SHIELD
    from shield.weights import WeightFiles

    store = ArtifactStore()
    weights = WeightFiles(
        prior_q=str(store.check(prior_spec("symbolic", "quick"))),
        encoders={DEFAULT_SHIELD.margin: str(store.check(encoder_spec("symbolic", "quick")))},
    )
    config = trial_config(DEFAULT_ENV, "symbolic", "nstep3", TrialBudget(6000, 6, 1), DEFAULT_SHIELD.to_dict(), weights)
    config = config.environment(env_config={"obs": "symbolic", "layout_seed": 123}).debugging(seed=7)
    return config.training(num_steps_sampled_before_learning_starts=500).build_algo()


def snapshot(algo, result: dict) -> dict:
    """What must agree: the replay (arrays, priorities, position), the unsafe buffer, the
    network weights, the shield's counters of the iteration just run."""
    replay, buffer = algo.transitions, algo.env_runner.module.shield.unsafe_buffer
    learner = next(iter(algo.learner_group.foreach_learner(lambda learner: learner.get_state()))).get()
    n = replay.size
    return {
        "replay": {key: getattr(replay, key)[:n].copy() for key in ("obs", "next_obs", "actions", "rewards")}
        | {"priorities": replay.priorities[:n].copy(), "position": np.array([replay.size, replay.next])},
        "unsafe_rows": buffer.rows.clone().numpy(),
        "unsafe_position": np.array([buffer.stored, buffer.next]),
        "weights": {k: np.array(v) for k, v in learner["rl_module"]["default_policy"].items()},
        "shield_metrics": dict(result["env_runners"]["shield"]),
        "sampled_actions": replay.actions[:n][-algo.config.num_envs_per_env_runner * 10 :].copy(),
    }


def main(mode: str, checkpoint: str, out: str) -> None:
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    algo = build()
    if mode == "straight":
        for _ in range(ITERATIONS_BEFORE_SAVE):
            algo.train()
        algo.save_to_path(checkpoint)
    else:
        algo.restore_from_path(checkpoint)
    result = algo.train()
    Path(out).write_bytes(pickle.dumps(snapshot(algo, result)))
    algo.stop()


def run(*args: str) -> None:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def assert_same(a, b, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"  # NaN == NaN here


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A folder with the checkpoint after 3 iterations and the straight run's snapshot."""
    folder = tmp_path_factory.mktemp("resume")
    run("straight", str(folder / "checkpoint"), str(folder / "straight.pkl"))
    return folder


@pytest.mark.slow
def test_a_trial_restored_in_a_new_process_continues_as_the_uninterrupted_one(saved, tmp_path):
    run("restored", str(saved / "checkpoint"), str(tmp_path / "restored.pkl"))
    straight = pickle.loads((saved / "straight.pkl").read_bytes())
    restored = pickle.loads((tmp_path / "restored.pkl").read_bytes())

    # not vacuous: the iteration after the checkpoint sampled, trained, died in lava and
    # stored unsafe embeddings
    metrics = straight["shield_metrics"]
    assert metrics["steps"] > ITERATIONS_BEFORE_SAVE * 1000 and metrics["violations_total"] > 4
    assert straight["unsafe_position"][0] > 3 and (straight["replay"]["priorities"] != 1.0).any()
    assert_same(straight, restored)


@pytest.mark.slow
def test_a_damaged_checkpoint_is_refused_with_its_path(saved, tmp_path):
    """A truncated resume file fails the check with CorruptCheckpointError naming it."""
    import shutil

    from rllib_algos.resume import RESUME_DIR, CorruptCheckpointError, check_checkpoint

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(saved / "checkpoint", checkpoint)
    check_checkpoint(checkpoint)  # intact
    replay = checkpoint / RESUME_DIR / "replay.npz"
    replay.write_bytes(replay.read_bytes()[:1000])
    with pytest.raises(CorruptCheckpointError, match="replay.npz"):
        check_checkpoint(checkpoint)
    shutil.rmtree(checkpoint / "learner_group")
    with pytest.raises(CorruptCheckpointError, match="learner_group"):
        check_checkpoint(checkpoint)


if __name__ == "__main__":
    main(*sys.argv[1:4])

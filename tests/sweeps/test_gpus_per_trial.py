"""`--gpus-per-trial`: the plan, the run id, trial reuse, and the driver's check of the
cluster's GPUs (on this CPU machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.plan import make_plan, parse_args
from sweeps.reuse import canonical
from sweeps.threshold import STUDY

ROOT = Path(__file__).resolve().parents[2]


def plan(tmp_path: Path, *args: str):
    return make_plan(STUDY, parse_args(STUDY, ["--budget", "smoke", "--storage", str(tmp_path), *args]))


def test_the_plan_carries_the_share_and_gpu_runs_have_run_ids_of_their_own(tmp_path):
    cpu = plan(tmp_path)
    quarter, half = plan(tmp_path, "--gpus-per-trial", "0.25"), plan(tmp_path, "--gpus-per-trial", "0.5")
    assert (cpu.gpus_per_trial, quarter.gpus_per_trial) == (0.0, 0.25)
    assert cpu.run_dir != quarter.run_dir  # a CPU run does not resume on a GPU, nor the other way
    assert quarter.run_dir == half.run_dir  # the share changes nothing computed
    assert plan(tmp_path, "--gpus-per-trial", "0").run_dir == cpu.run_dir


@pytest.mark.parametrize("gpus", ["-0.1", "1.5", "nan", "inf"])
def test_a_share_outside_0_to_1_is_refused_naming_the_flag(tmp_path, gpus):
    with pytest.raises(ValueError, match=r"--gpus-per-trial must be between 0 and 1 .* pass e\.g\. 0\.25"):
        plan(tmp_path, "--gpus-per-trial", gpus)


def test_reuse_matches_on_the_learners_device_not_its_share():
    trial = {"seed": 123, "shield_config": {"mode": "dqn"}}
    cpu, gpu = canonical(trial | {"num_gpus_per_learner": 0}), canonical(trial | {"num_gpus_per_learner": 0.25})
    assert canonical(trial | {"num_gpus_per_learner": 0.0}) == cpu  # CPU trials from before the flag still match
    assert canonical(trial | {"num_gpus_per_learner": 0.5}) == gpu
    assert cpu != gpu


def test_the_driver_refuses_more_gpus_than_the_cluster_has(monkeypatch):
    import ray

    from sweeps.runner import check_gpus

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    check_gpus(0.0)
    with pytest.raises(ValueError, match=r"--gpus-per-trial 0\.5: the Ray cluster has 0 GPUs.*--gpus-per-trial 0"):
        check_gpus(0.5)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    check_gpus(0.5)
    check_gpus(1.0)


@pytest.mark.slow
def test_a_study_asking_for_a_gpu_on_a_cpu_cluster_exits_before_compute(tmp_path):
    """The study script itself, in a fresh interpreter: local Ray starts (about 15 s, hence
    slow), finds no GPU, and the study stops with exit 2 before any artifact or trial (Tune
    would wait forever)."""
    command = [sys.executable, str(ROOT / "sweeps" / "threshold.py"), "--budget", "smoke", "--seeds", "1"]
    command += ["--storage", str(tmp_path / "results"), "--artifact-dir", str(tmp_path / "artifacts")]
    done = subprocess.run([*command, "--gpus-per-trial", "0.5"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--gpus-per-trial 0.5: the Ray cluster has 0 GPUs" in done.stderr
    assert "run with --gpus-per-trial 0 (CPU only), or on a cluster with GPUs" in done.stderr
    assert not (tmp_path / "artifacts").exists() and not any((tmp_path / "results").glob("*/*/manifest.json"))

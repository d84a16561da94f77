"""Studies on a real two-node Ray cluster on loopback (marked `cluster`; they run in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.cluster.conftest import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def submit(cluster, storage: Path, *study_args: str, env=None, timeout=900) -> subprocess.CompletedProcess:
    return cluster.ray(
        "job",
        "submit",
        f"--address={cluster.dashboard}",
        "--working-dir",
        str(ROOT),
        "--",
        "python",
        "sweeps/threshold.py",
        "--budget",
        "smoke",
        "--storage",
        str(storage),
        *study_args,
        env=env,
        timeout=timeout,
    )


def node_ids(run_dir: Path) -> set[str]:
    ids = set()
    for result in run_dir.glob("*/result.json"):
        lines = result.read_text().splitlines()
        if lines:
            ids.add(json.loads(lines[-1]).get("node_id"))
    return ids


def test_job_submit_runs_trials_on_both_nodes(two_node_cluster, tmp_path):
    done = submit(two_node_cluster, tmp_path, "--seeds", "2", "--d-max", "2.5")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    (run_dir,) = [p for p in (tmp_path / "threshold").iterdir() if p.is_dir()]
    trials = pd.read_csv(run_dir / "pareto.csv")
    assert {"dqn", "priors rho=0.95 tau=0"} <= set(trials["setting"])
    assert len(pd.read_csv(run_dir / "trials.csv")) == 6
    assert len(node_ids(run_dir) - {None}) == 2  # trials ran on the head and on node 2


def test_job_submission_without_the_token_is_refused(two_node_cluster, tmp_path):
    env = dict(two_node_cluster.env)
    env.pop("RAY_AUTH_TOKEN")
    env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "no-token")  # not the default token file either
    (tmp_path / "no-token").write_text("wrong-token")
    done = submit(two_node_cluster, tmp_path, "--seeds", "1", env=env, timeout=120)
    assert done.returncode != 0
    assert "auth" in (done.stdout + done.stderr).lower()


def test_study_completes_when_the_second_node_dies(two_node_cluster, tmp_path):
    command = [sys.executable, str(ROOT / "sweeps" / "threshold.py"), "--budget", "smoke", "--seeds", "2"]
    command += ["--storage", str(tmp_path), "--d-max", "2.5"]
    env = dict(two_node_cluster.env, RAY_ADDRESS=two_node_cluster.address)
    study = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node2 = two_node_cluster.temp_dirs[1]
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the second node is busy with a trial
        run_dirs = (
            [p for p in (tmp_path / "threshold").glob("*") if p.is_dir()] if (tmp_path / "threshold").exists() else []
        )
        if run_dirs and any((d / "result.json").exists() for d in run_dirs[0].glob("*-seed*")):
            break
        time.sleep(1)
    assert two_node_cluster.kill_node(node2) > 0
    output, _ = study.communicate(timeout=900)
    assert study.returncode == 0, output[-4000:]
    (run_dir,) = [p for p in (tmp_path / "threshold").iterdir() if p.is_dir()]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 6 and trials["trial_id"].is_unique
    assert (trials["status"] == "TERMINATED").all()

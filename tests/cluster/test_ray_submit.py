"""`ray up` + `ray submit` with the shipped cluster.yaml against an SSH server on 127.0.0.1.

The node is this machine, reached as root through sshd (see conftest's `ssh_to_localhost`),
and its ~/.bashrc puts another `python` first on PATH, as pyenv or conda do on a real node:
`ray submit` must still run the study in the cluster's own environment. The launcher's
start commands are the shipped ones but for `ray stop` and the ports (`launcher_config`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.conftest import ROOT, cmdline, launched_cluster, processes_of

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_ray_up_and_submit_run_a_smoke_study_whatever_python_bashrc_puts_first(ssh_to_localhost, tmp_path):
    with launched_cluster(ssh_to_localhost) as cluster:
        storage = tmp_path / "results"
        submit = cluster.ray(
            "submit", str(cluster.config), str(ROOT / "sweeps" / "threshold.py"), "--",
            "--budget", "smoke", "--seeds", "1", "--d-max", "2.5", "--storage", str(storage),
        )  # fmt: skip
        assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-4000:]
        (run_dir,) = [p for p in (storage / "threshold").iterdir() if p.is_dir()]
        assert (run_dir / "pareto.csv").exists() and len((run_dir / "trials.csv").read_text().splitlines()) == 4
        venv_python = str(Path.home() / "shieldsweep-venv" / "bin" / "python")
        ray_processes = [cmdline(pid) for pid in processes_of(cluster.temp_root)]
        # Ray and the shell's `python` are the venv's, not the global interpreter's
        assert any(venv_python in line for line in ray_processes), ray_processes
        shell = cluster.ray("exec", str(cluster.config), "python -c 'import sys; print(sys.prefix)'", timeout=300)
        assert str(Path.home() / "shieldsweep-venv") in shell.stdout.splitlines(), shell.stdout[-2000:]

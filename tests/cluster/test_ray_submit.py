"""`ray up` + `ray submit` with the shipped cluster.yaml against an SSH server on 127.0.0.1.

The test installs openssh-server and rsync from Debian when they are missing (CI runs as
root with the Debian registry reachable), authorises a fresh key for root, starts sshd,
brings the cluster up with the launcher, submits a smoke study and tears it down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def sh(*command: str, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def ssh_to_localhost(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to install and start sshd")
    if not (shutil.which("sshd") or Path("/usr/sbin/sshd").exists()) or not shutil.which("rsync"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        assert sh("apt-get", "update", env=env).returncode == 0
        done = sh("apt-get", "install", "-y", "--no-install-recommends", "openssh-server", "rsync", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    home_ssh = Path.home() / ".ssh"
    home_ssh.mkdir(mode=0o700, exist_ok=True)
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    assert sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)).returncode == 0
    authorized = home_ssh / "authorized_keys"
    before = authorized.read_text() if authorized.exists() else None
    authorized.write_text((before or "") + key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-p", "22", "-o", "PermitRootLogin=prohibit-password"])
    time.sleep(1)
    try:
        yield key
    finally:
        sshd.terminate()
        if before is None:
            authorized.unlink(missing_ok=True)
        else:
            authorized.write_text(before)


def test_ray_up_and_submit_run_a_smoke_study(ssh_to_localhost, tmp_path):
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["auth"]["ssh_private_key"] = str(ssh_to_localhost)
    config["cluster_name"] = f"shieldsweep-test-{os.getpid()}"
    cluster_yaml = tmp_path / "cluster.yaml"
    cluster_yaml.write_text(yaml.safe_dump(config))
    env = dict(os.environ, RAY_AUTH_MODE="token")
    env.pop("RAY_ADDRESS", None)
    assert sh("ray", "get-auth-token", "--generate", env=env, cwd=ROOT).returncode == 0
    up = sh("ray", "up", "-y", "--no-config-cache", str(cluster_yaml), env=env, cwd=ROOT, timeout=1200)
    try:
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        storage = tmp_path / "results"
        submit = sh(
            "ray", "submit", str(cluster_yaml), str(ROOT / "sweeps" / "threshold.py"), "--",
            "--budget", "smoke", "--seeds", "1", "--d-max", "2.5", "--storage", str(storage),
            env=env, cwd=ROOT, timeout=900,
        )  # fmt: skip
        assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-4000:]
        (run_dir,) = [p for p in (storage / "threshold").iterdir() if p.is_dir()]
        assert (run_dir / "pareto.csv").exists() and len((run_dir / "trials.csv").read_text().splitlines()) == 4
    finally:
        sh("ray", "down", "-y", str(cluster_yaml), env=env, cwd=ROOT, timeout=300)

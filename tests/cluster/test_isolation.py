"""The cluster tests leave a user's Ray alone.

A bystander Ray, started as a user would (`ray start --head --temp-dir <dir> --num-cpus 1`,
Ray's default ports) with a driver counting in an actor on it, must still answer and count
after the tests' clusters (the fixtures' code) have come up, run a job and gone down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.conftest import (
    RAY,
    bindable,
    free_port_block,
    kill_node,
    launched_cluster,
    processes_of,
    python_env,
    ray_start,
    two_node_cluster_up,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RAY_DEFAULT_PORTS = {"GCS": 6379, "dashboard": 8265, "client server": 10001}
AGENT_DEFAULT_PORT = 52365
BYSTANDER_WAIT_S = 300

DRIVER = """
import sys, time
from pathlib import Path
import ray

ray.init(address=sys.argv[1])

@ray.remote(num_cpus=0)
class Counter:
    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1
        return self.n

counter, out = Counter.remote(), Path(sys.argv[2])
while True:
    out.with_suffix(".tmp").write_text(str(ray.get(counter.bump.remote())))
    out.with_suffix(".tmp").replace(out)  # whole numbers only for the reader
    time.sleep(0.2)
"""


@dataclass
class Bystander:
    """Someone else's Ray on this machine and the driver working on it."""

    temp_dir: Path
    count_file: Path
    driver: subprocess.Popen
    env: dict[str, str]

    def count(self) -> int:
        return int(self.count_file.read_text()) if self.count_file.exists() else 0

    def progressing(self, within: float = 60) -> bool:
        """Whether the driver's count grows within `within` seconds."""
        before, deadline = self.count(), time.time() + within
        while time.time() < deadline:
            if self.driver.poll() is not None:
                return False
            if self.count() > before:
                return True
            time.sleep(0.5)
        return False

    def status(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [RAY, "status", "--address=127.0.0.1:6379"], env=self.env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture
def bystander() -> Iterator[Bystander]:
    # Under pytest-xdist the other worker's studies hold the dashboard's default port for a
    # minute or two at a time (Ray moves a later dashboard to the next free port): wait.
    deadline = time.monotonic() + BYSTANDER_WAIT_S
    while taken := [name for name, port in RAY_DEFAULT_PORTS.items() if not bindable(port)]:
        if time.monotonic() > deadline:
            pytest.skip(f"Ray's default ports are taken ({', '.join(taken)}): the bystander needs them")
        time.sleep(0.2)
    # Every local Ray's dashboard agent takes 52365, even with the dashboard off: the other
    # worker's session Ray holds it all along. That Ray is then a bystander too; this one
    # listens elsewhere.
    agent_port = AGENT_DEFAULT_PORT if bindable(AGENT_DEFAULT_PORT) else free_port_block(1)
    base = Path(tempfile.mkdtemp(prefix="ss-bystander-", dir="/tmp"))
    # A plain local Ray: without the mode set, `ray start` would turn token auth on whenever
    # ~/.ray/auth_token exists, and the driver would need the token too.
    env = python_env(RAY_AUTH_MODE="disabled")
    env.pop("RAY_AUTH_TOKEN", None)
    driver = None
    try:
        started = ray_start(
            "--head",
            f"--temp-dir={base / 'ray'}",
            "--num-cpus",
            "1",
            f"--dashboard-agent-listen-port={agent_port}",
            env=env,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        (base / "driver.py").write_text(DRIVER)
        driver = subprocess.Popen(
            [sys.executable, str(base / "driver.py"), "127.0.0.1:6379", str(base / "count")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(base / "driver.log", "w"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,
        )
        bystander = Bystander(temp_dir=base / "ray", count_file=base / "count", driver=driver, env=env)
        assert bystander.progressing(within=120), (base / "driver.log").read_text()[-2000:]
        yield bystander
    finally:
        if driver is not None:
            driver.kill()
            driver.wait()
        kill_node(base / "ray")
        shutil.rmtree(base, ignore_errors=True)


def assert_untouched(bystander: Bystander) -> None:
    status = bystander.status()
    assert status.returncode == 0 and "Active:" in status.stdout, status.stdout[-2000:] + status.stderr[-2000:]
    assert processes_of(bystander.temp_dir)
    assert bystander.progressing()


def test_two_node_cluster_and_its_jobs_leave_another_ray_running(bystander):
    with two_node_cluster_up() as cluster:
        assert cluster.alive_nodes() == 2
        entrypoint = "import ray; ray.init(); print('alive nodes:', sum(n['Alive'] for n in ray.nodes()))"
        job = cluster.ray(
            "job", "submit", f"--address={cluster.dashboard}", "--", "python", "-c", entrypoint, timeout=300
        )
        assert job.returncode == 0 and "alive nodes: 2" in job.stdout, job.stdout[-3000:] + job.stderr[-2000:]
        assert_untouched(bystander)
    assert_untouched(bystander)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to install and start sshd")
def test_ray_up_and_its_tear_down_leave_another_ray_running(bystander, ssh_to_localhost):
    with launched_cluster(ssh_to_localhost) as cluster:
        status = cluster.ray("status", f"--address=127.0.0.1:{cluster.gcs_port}", timeout=120)
        assert status.returncode == 0 and "Active:" in status.stdout, status.stdout[-2000:] + status.stderr[-2000:]
        assert_untouched(bystander)
    assert_untouched(bystander)

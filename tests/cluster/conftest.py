"""A real two-node Ray cluster on loopback: a head and a second node with its own temp dir.

Token authentication is on: the cluster and every client get RAY_AUTH_MODE=token and one
generated token. Processes of each node are found by their temp dir, so a test can kill
the second node alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    env: dict[str, str]
    gcs_port: int
    dashboard_port: int
    temp_dirs: list[Path] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def ray(self, *args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ray", *args], env=env or self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )

    def start_worker(self, temp_dir: Path) -> None:
        done = self.ray("start", f"--address={self.address}", f"--temp-dir={temp_dir}", "--num-cpus=1")
        assert done.returncode == 0, done.stdout + done.stderr
        self.temp_dirs.append(temp_dir)

    @staticmethod
    def processes_of(temp_dir: Path) -> list[int]:
        """Pids whose command line names `temp_dir` (a node's raylet, GCS, agents, ...).
        Its workers exit by themselves when their raylet dies."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(temp_dir) in cmdline:
                pids.append(int(entry.name))
        return pids

    def kill_node(self, temp_dir: Path) -> int:
        """SIGKILL every process of the node started with `temp_dir`; return how many."""
        victims = self.processes_of(temp_dir)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    def alive_nodes(self) -> int:
        script = "import ray; ray.init(address='auto'); print(sum(n['Alive'] for n in ray.nodes()))"
        done = subprocess.run(["python", "-c", script], env=self.env, capture_output=True, text=True, timeout=120)
        return int(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def two_node_cluster():
    """Head (1 CPU, dashboard for jobs) and a second node (1 CPU), token auth on."""
    base = Path(tempfile.mkdtemp(prefix="ss-cluster-", dir="/tmp"))
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.pop("RAY_ADDRESS", None)
    cluster = Cluster(env=env, gcs_port=free_port(), dashboard_port=free_port())
    head_dir = base / "head"
    started = cluster.ray(
        "start",
        "--head",
        f"--port={cluster.gcs_port}",
        f"--temp-dir={head_dir}",
        "--num-cpus=1",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={cluster.dashboard_port}",
    )
    assert started.returncode == 0, started.stdout + started.stderr
    cluster.temp_dirs.append(head_dir)
    cluster.start_worker(base / "node2")
    deadline = time.time() + 60
    while cluster.alive_nodes() < 2 and time.time() < deadline:
        time.sleep(2)
    try:
        yield cluster
    finally:
        for temp_dir in reversed(cluster.temp_dirs):
            cluster.kill_node(temp_dir)
        shutil.rmtree(base, ignore_errors=True)

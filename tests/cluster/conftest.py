"""Real Ray clusters on loopback that leave every other Ray on the machine alone.

Each node the tests start has its own temp dir and ports chosen here, never Ray's defaults
(GCS 6379, dashboard 8265, agent 52365, client server 10001, workers 10002-19999), so a
user's Ray on those ports keeps running. A node's processes are found by its temp dir and
the session it was started in, and killed alone; nothing here runs `ray stop`.

Token authentication is on: the cluster and every client get RAY_AUTH_MODE=token and one
generated token.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The environment running the tests (a venv, say): its `ray` and `python`, not PATH's first.
BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")


def python_env(**extra: str) -> dict[str, str]:
    """os.environ with this interpreter's bin first on PATH, so the `python` a node or a job
    runs is this environment's, and without RAY_ADDRESS (no test joins a Ray by accident)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
    env.pop("RAY_ADDRESS", None)
    return env


def bindable(port: int) -> bool:
    """Whether a server can listen on `port` now (as Ray's do, past connections in TIME_WAIT)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


_handed_out: list[range] = []  # blocks given to nodes: a worker range stays unbound until used


def free_port_block(size: int) -> int:
    """First port of `size` consecutive free ports below the kernel's ephemeral range (where
    outgoing connections would take them) and above Ray's default worker ports, overlapping
    no block handed out before in this test run."""
    for _ in range(200):
        block = range(start := random.randrange(20000, 32768 - size), start + size)
        if any(block.start < taken.stop and taken.start < block.stop for taken in _handed_out):
            continue
        if all(bindable(port) for port in block):
            _handed_out.append(block)
            return start
    raise RuntimeError(f"no {size} consecutive free ports in 20000-32767")


@dataclass(frozen=True)
class NodePorts:
    """Every port one Ray node listens on, from one block of free ports."""

    gcs: int
    dashboard: int
    agent_listen: int
    agent_grpc: int
    runtime_env_agent: int
    metrics_export: int
    node_manager: int
    object_manager: int
    client_server: int
    min_worker: int
    max_worker: int

    WORKERS = 200  # worker processes a node may hold at once (trials, env runners, drivers)

    @classmethod
    def choose(cls) -> NodePorts:
        start = free_port_block(9 + cls.WORKERS)
        return cls(*range(start, start + 9), start + 9, start + 9 + cls.WORKERS - 1)

    def flags(self, head: bool) -> list[str]:
        """`ray start` flags for every port but the GCS's (`--port` on a head, in `--address`
        on a worker)."""
        flags = [
            f"--dashboard-agent-listen-port={self.agent_listen}",
            f"--dashboard-agent-grpc-port={self.agent_grpc}",
            f"--runtime-env-agent-port={self.runtime_env_agent}",
            f"--metrics-export-port={self.metrics_export}",
            f"--node-manager-port={self.node_manager}",
            f"--object-manager-port={self.object_manager}",
            f"--min-worker-port={self.min_worker}",
            f"--max-worker-port={self.max_worker}",
        ]
        if head:
            flags += [f"--dashboard-port={self.dashboard}", f"--ray-client-server-port={self.client_server}"]
        return flags


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def processes_of(temp_dir: Path) -> list[int]:
    """Pids of the node started with `temp_dir`: those whose command line names it (GCS,
    raylet, dashboard, monitors) and every process in their sessions (the agents and
    workers rename themselves `ray::...`; the client server names neither), never this
    test process's own session."""
    named = {pid for pid in _pids() if str(temp_dir) in cmdline(pid)}
    sessions = set()
    for pid in named:
        with contextlib.suppress(OSError):
            sessions.add(os.getsid(pid))
    sessions.discard(os.getsid(0))
    members = set()
    for pid in _pids():
        with contextlib.suppress(OSError):
            if os.getsid(pid) in sessions:
                members.add(pid)
    return sorted((named | members) - {os.getpid()})


def kill_node(temp_dir: Path) -> int:
    """SIGKILL every process of the node started with `temp_dir`; return how many."""
    victims = processes_of(temp_dir)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def ray_start(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    """`ray start` in a session of its own: the node's daemons inherit it, so `kill_node`
    finds them all, and none shares the session of the test or of anything else."""
    return subprocess.run(
        [RAY, "start", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        start_new_session=True,
    )


@dataclass
class Cluster:
    env: dict[str, str]
    head_ports: NodePorts
    temp_dirs: list[Path] = field(default_factory=list)

    @property
    def gcs_port(self) -> int:
        return self.head_ports.gcs

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.head_ports.dashboard}"

    def ray(self, *args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [RAY, *args], env=env or self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )

    def start_head(self, temp_dir: Path) -> None:
        started = ray_start(
            "--head",
            f"--port={self.gcs_port}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=1",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            *self.head_ports.flags(head=True),
            env=self.env,
        )
        self.temp_dirs.append(temp_dir)  # before the check: a half-started node is killed too
        assert started.returncode == 0, started.stdout + started.stderr

    def start_worker(self, temp_dir: Path) -> None:
        ports = NodePorts.choose()
        started = ray_start(
            f"--address={self.address}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=1",
            *ports.flags(head=False),
            env=self.env,
        )
        self.temp_dirs.append(temp_dir)
        assert started.returncode == 0, started.stdout + started.stderr

    processes_of = staticmethod(processes_of)
    kill_node = staticmethod(kill_node)

    def alive_nodes(self) -> int:
        script = "import sys, ray; ray.init(address=sys.argv[1]); print(sum(n['Alive'] for n in ray.nodes()))"
        done = subprocess.run(
            [sys.executable, "-c", script, self.address], env=self.env, capture_output=True, text=True, timeout=120
        )
        lines = done.stdout.strip().splitlines()
        return int(lines[-1]) if done.returncode == 0 and lines else 0


@contextlib.contextmanager
def two_node_cluster_up() -> Iterator[Cluster]:
    """Head (1 CPU, dashboard for jobs) and a second node (1 CPU), token auth on; on exit
    both are killed by their temp dirs and the dirs removed."""
    base = Path(tempfile.mkdtemp(prefix="ss-cluster-", dir="/tmp"))  # short: Ray's socket paths
    env = python_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    cluster = Cluster(env=env, head_ports=NodePorts.choose())
    try:
        cluster.start_head(base / "head")
        cluster.start_worker(base / "node2")
        deadline = time.time() + 60
        while cluster.alive_nodes() < 2 and time.time() < deadline:
            time.sleep(2)
        yield cluster
    finally:
        for temp_dir in reversed(cluster.temp_dirs):
            kill_node(temp_dir)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def two_node_cluster() -> Iterator[Cluster]:
    with two_node_cluster_up() as cluster:
        yield cluster


# --- `ray up` with the shipped cluster.yaml, sshd on 127.0.0.1 ----------------------------


def sh(*command: str, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def ssh_to_localhost(tmp_path_factory) -> Iterator[Path]:
    """A private key root can SSH to 127.0.0.1 with; sshd installed (Debian) and started if
    needed. root's authorized_keys is restored afterwards."""
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


@contextlib.contextmanager
def node_shell(lines: str) -> Iterator[None]:
    """root's ~/.bashrc with `lines` appended for SSH sessions only (the launcher's), so this
    machine's other shells are unaffected, even by what `ray up` appends after them; on exit
    ~/.bashrc and ~/.profile are restored byte for byte (or removed if there were none)."""
    files = [Path.home() / ".bashrc", Path.home() / ".profile"]
    saved = {path: path.read_bytes() if path.exists() else None for path in files}
    bashrc = saved[files[0]] or b""
    guard = '\n# shieldsweep tests: a cluster node\'s shell (SSH sessions only)\n[ -n "$SSH_CONNECTION" ] || return 0\n'
    try:
        files[0].write_bytes(bashrc + guard.encode() + lines.encode())
        yield
    finally:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


def shadowing_python(folder: Path) -> Path:
    """A folder with a `python` that is not the cluster's: a bare venv's interpreter (no Ray,
    no project), as pyenv shims or conda put on PATH before anything else."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "bare")], check=True, timeout=120)
    (folder / "bin").mkdir()
    shim = folder / "bin" / "python"
    shim.write_text(f'#!/bin/sh\nexec "{folder / "bare" / "bin" / "python"}" "$@"\n')
    shim.chmod(0o755)
    return folder / "bin"


def launcher_config(key: Path, name: str, ports: NodePorts) -> dict:
    """The shipped cluster.yaml with the test's key and name, and head start commands that
    touch only the test's node: no `ray stop` (it stops every Ray on the machine; the test
    kills its node by temp dir instead) and every port chosen by the test."""
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["auth"]["ssh_private_key"] = str(key)
    config["cluster_name"] = name
    commands = []
    for command in config["head_start_ray_commands"]:
        if "ray stop" in command:
            continue
        assert "ray start --head" in command and "--port=6379" in command, command
        command = command.replace("--port=6379", f"--port={ports.gcs}")
        commands.append(" ".join([command, *ports.flags(head=True)]))
    config["head_start_ray_commands"] = commands
    return config


@dataclass
class Launched:
    """A cluster brought up by `ray up`: its config file, the launcher's environment and the
    head's temp root (RAY_TMPDIR on the node) and GCS port."""

    config: Path
    env: dict[str, str]
    temp_root: Path
    gcs_port: int

    def ray(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return sh(RAY, *args, env=self.env, cwd=ROOT, timeout=timeout)


@contextlib.contextmanager
def launched_cluster(key: Path) -> Iterator[Launched]:
    """`ray up` of the shipped cluster.yaml (see `launcher_config`) on this machine through
    sshd, on a node whose ~/.bashrc puts another `python` first on PATH. On exit the head is
    killed by its temp dir (`ray down` would run `ray stop`) and root's shell files restored.

    The node's RAY_TMPDIR is a fresh folder: Ray's temp dir and the `ray_current_cluster`
    file that the study submitted by `ray submit` joins through are the test's own."""
    temp_root = Path(tempfile.mkdtemp(prefix="ss-rayup-", dir="/tmp"))  # short: Ray's socket paths
    ports = NodePorts.choose()
    name = f"shieldsweep-test-{os.getpid()}-{secrets.token_hex(3)}"
    config = temp_root / "cluster.yaml"
    config.write_text(yaml.safe_dump(launcher_config(key, name, ports)))
    shadow = shadowing_python(temp_root / "shadow")
    # The launcher's local state files go under temp_root too (the local provider keeps them in Ray's temp dir).
    env = python_env(RAY_AUTH_MODE="token", RAY_TMPDIR=str(temp_root))
    launched = Launched(config=config, env=env, temp_root=temp_root, gcs_port=ports.gcs)
    try:
        with node_shell(f'export PATH="{shadow}:$PATH" RAY_TMPDIR="{temp_root}"\n'):
            assert launched.ray("get-auth-token", "--generate").returncode == 0
            up = launched.ray("up", "-y", "--no-config-cache", str(config), timeout=1800)
            assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
            yield launched
    finally:
        kill_node(temp_root)
        shutil.rmtree(temp_root, ignore_errors=True)

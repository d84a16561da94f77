"""docker-compose.yml for real: a head and two workers in containers run a smoke study.

No image registry is needed. The test starts a private Docker engine (its own socket, data
root and exec root; it stops only that engine), builds a Debian bookworm base image with
debootstrap (minbase plus python3 and python3-venv), downloads the project's dependencies
into a wheelhouse with this machine's pip, and builds the shipped Dockerfile on that base
from the wheelhouse. The cluster comes from the shipped docker-compose.yml (free ports, a
fresh token, HEAD_CPUS=0 so that trials can only run on the workers); a smoke study is
submitted with `ray job submit` and token auth through the dashboard on 127.0.0.1.

As root with apt it installs docker.io, docker-compose and debootstrap when they are
missing; elsewhere it is skipped. SHIELDSWEEP_COMPOSE_CACHE=<dir> keeps the engine's data
root (with the base image) and the wheelhouse there between runs; by default all is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
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

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.compose]

BASE_IMAGE = "shieldsweep-base:bookworm"
SUITE = "bookworm"  # its python3 is 3.11: the wheelhouse's wheels are this Python's
COMPOSE_FILE = ROOT / "docker-compose.yml"
IMAGE = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["head"]["image"]
# the tool each Debian package provides; compose is checked separately (plugin or v1)
PACKAGES = {"dockerd": "docker.io", "docker": "docker.io", "debootstrap": "debootstrap"}
PORTS = {"DASHBOARD_PORT": 8265, "GCS_PORT": 6379, "CLIENT_PORT": 10001}  # variable: container port
WORKERS = 2
SMOKE = ["--budget", "smoke", "--seeds", "1", "--d-max", "2.5", "--storage", "/shared/results"]


def sh(*command: str | Path, timeout: float = 600, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert done.returncode == 0, f"{command} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def free_ports(count: int) -> list[int]:
    """Distinct ports free on every interface, below the kernel's ephemeral range (where
    outgoing connections could take them before compose publishes them)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) where it exists, else Debian's `docker-compose`."""
    if shutil.which("docker") and sh("docker", "compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def install_missing_tools() -> list[str]:
    """The compose command; installs the Debian packages of missing tools as root, else skips."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux to run a private dockerd and debootstrap")
    if sys.version_info[:2] != (3, 11):
        pytest.skip(f"the wheelhouse comes from this Python, which must match {SUITE}'s python3 3.11")
    missing = {package for tool, package in PACKAGES.items() if not shutil.which(tool)}
    if compose_command() is None:
        missing.add("docker-compose")
    if missing:
        if not shutil.which("apt-get"):
            pytest.skip(f"needs {', '.join(sorted(missing))} (Debian packages) and has no apt-get to install them")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh("apt-get", "update", env=env)
        sh("apt-get", "install", "-y", "--no-install-recommends", *sorted(missing), env=env, timeout=900)
    command = compose_command()
    assert command is not None, "docker-compose was installed but is not on PATH"
    return command


def debian_mirror() -> str:
    """The Debian mirror apt uses here (deb822 .sources or a sources.list line)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#")
            if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                return fields["URIs"].split()[0]
    lists = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
    for path in lists:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = [w for w in line.split() if not w.startswith("[")]  # drop [signed-by=...] options
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    return "http://deb.debian.org/debian"


@dataclass
class Engine:
    """A private dockerd: its own socket, data root and exec root."""

    dir: Path
    data_root: Path
    env: dict[str, str]
    compose: list[str]  # `docker compose` or `docker-compose`
    process: subprocess.Popen | None = None
    cache: Path | None = None  # SHIELDSWEEP_COMPOSE_CACHE: data root and wheelhouse kept there
    timings: dict[str, float] = field(default_factory=dict)

    def docker(self, *args: str | Path, **kwargs) -> subprocess.CompletedProcess:
        return sh("docker", *args, env=self.env, **kwargs)

    def start(self) -> None:
        log = (self.dir / "dockerd.log").open("w")
        self.process = subprocess.Popen(
            ["dockerd", f"--host={self.env['DOCKER_HOST']}", f"--data-root={self.data_root}",
             f"--exec-root={self.dir / 'exec'}", f"--pidfile={self.dir / 'dockerd.pid'}",
             "--bridge=none"],  # no docker0: compose makes the project's own network
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while self.docker("version", check=False).returncode != 0:
            assert self.process.poll() is None and time.monotonic() < deadline, "dockerd did not start\n" + self.log()
            time.sleep(1)

    def log(self) -> str:
        return (self.dir / "dockerd.log").read_text()[-4000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def inspect(self, container: str) -> dict:
        return json.loads(self.docker("inspect", container).stdout)[0]


@contextlib.contextmanager
def phase(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.monotonic() - start


def unmount_under(path: Path) -> None:
    """Lazily unmount what a crashed engine may have left mounted under `path` before removing it."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        sh("umount", "-l", mount, check=False)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    timings: dict[str, float] = {}
    with phase(timings, "engine install"):
        compose = install_missing_tools()
    cache_dir = os.environ.get("SHIELDSWEEP_COMPOSE_CACHE")
    cache = Path(cache_dir).resolve() if cache_dir else None
    work = Path(tempfile.mkdtemp(prefix="ssc-", dir="/tmp"))  # short: containerd's socket path is limited
    env = dict(os.environ, DOCKER_HOST=f"unix://{work / 'docker.sock'}", DOCKER_BUILDKIT="0")
    engine = Engine(work, (cache or work) / "docker", env, compose, cache=cache, timings=timings)
    try:
        with phase(timings, "engine start"):
            engine.start()
        yield engine
    finally:
        with phase(timings, "engine stop"):
            if cache and engine.process and engine.process.poll() is None:
                engine.docker("image", "prune", "-f", check=False)  # the cache keeps the last build only
            engine.stop()
        with phase(timings, "remove data"):
            unmount_under(work)
            sh("rm", "-rf", "--one-file-system", work, check=False)  # the image's ~100k files: rm beats rmtree
        print("compose test phases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def build_images(engine: Engine) -> None:
    """The base image (debootstrap, unless the engine has it) and the project's image from
    the shipped Dockerfile, installed offline from a wheelhouse made by this machine's pip."""
    wheelhouse = (engine.cache or engine.dir) / "wheelhouse"
    rootfs = engine.dir / "rootfs"
    debootstrap = None
    if not engine.has_image(BASE_IMAGE):  # debootstrap downloads while pip does
        log = (engine.dir / "debootstrap.log").open("w")
        debootstrap = subprocess.Popen(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", SUITE, str(rootfs),
             debian_mirror()],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    with phase(engine.timings, "base image and wheelhouse"):
        import tomllib  # Python 3.11+, which this test requires

        build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
        try:
            sh(sys.executable, "-m", "pip", "download", "-q", "-d", wheelhouse, ROOT, *build_requires, timeout=1800)
        except BaseException:
            if debootstrap is not None:  # not left writing into the folder being removed
                debootstrap.kill()
                debootstrap.wait()
            raise
        if debootstrap is not None:
            assert debootstrap.wait(timeout=1800) == 0, (engine.dir / "debootstrap.log").read_text()[-4000:]
            for cache_dir in ("var/cache/apt/archives", "var/lib/apt/lists"):  # not needed in the image
                shutil.rmtree(rootfs / cache_dir, ignore_errors=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            engine.docker("import", "-", BASE_IMAGE, stdin=tar.stdout)
            assert tar.wait() == 0
            shutil.rmtree(rootfs)
    with phase(engine.timings, "build"):
        context = engine.dir / "context"
        context.mkdir()
        for name in ("Dockerfile", ".dockerignore", *dockerfile_sources()):
            source = ROOT / name
            if source.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "source_q-*", ".staging-*")  # as .dockerignore
                shutil.copytree(source, context / name, ignore=ignore)
            else:
                shutil.copy2(source, context / name)
        shutil.copytree(wheelhouse, context / "wheelhouse", copy_function=os.link)
        engine.docker(
            "build", "-t", IMAGE, "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", "APT_PACKAGES=",
            "--build-arg", "PIP_OPTIONS=--no-index --find-links /tmp/wheelhouse", context, timeout=1800,
        )  # fmt: skip
        shutil.rmtree(context)


def dockerfile_sources() -> list[str]:
    """The paths the Dockerfile copies from the build context (the optional wheelhouse aside)."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += [s for s in line.split()[1:-1] if "*" not in s and s not in sources]
    return sources


def ray_env(token: str) -> dict[str, str]:
    # this Python's `ray` first: the CLI must match the Ray it imports
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    return env


def list_nodes(dashboard: str, env: dict[str, str]) -> list[dict]:
    done = sh("ray", "list", "nodes", "--address", dashboard, "--format", "json", env=env, timeout=120, check=False)
    return json.loads(done.stdout) if done.stdout.startswith("[") else []  # or "No resource in the cluster"


def trial_results(run_dir: Path) -> list[dict]:
    """The last result of every trial (Tune's result.json, one JSON object per line)."""
    results = []
    for path in sorted(run_dir.glob("*/result.json")):
        lines = path.read_text().splitlines()
        if lines:
            results.append(json.loads(lines[-1]))
    return results


def non_loopback_addresses() -> list[str]:
    """This machine's global IPv4 addresses (eth0, bridges, ...)."""
    if not shutil.which("ip"):
        return []
    out = sh("ip", "-o", "-4", "addr", "show", "scope", "global").stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_compose_cluster_runs_a_smoke_study_on_its_workers(engine):
    build_images(engine)
    compose_env = dict(engine.env, RAY_AUTH_TOKEN=secrets.token_hex(32), HEAD_CPUS="0")
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    compose_env.update({variable: str(port) for variable, port in ports.items()})
    project = f"shieldsweeptest{os.getpid()}"  # compose v1 keeps only [a-z0-9] of a project name
    compose = [*engine.compose, "-f", str(COMPOSE_FILE), "-p", project]
    dashboard = f"http://127.0.0.1:{ports['DASHBOARD_PORT']}"
    env = ray_env(compose_env["RAY_AUTH_TOKEN"])
    try:
        with phase(engine.timings, "compose up"):
            sh(*compose, "up", "-d", "--no-build", "--scale", f"worker={WORKERS}", env=compose_env)
            deadline = time.monotonic() + 300
            while len(nodes := [n for n in list_nodes(dashboard, env) if n["state"] == "ALIVE"]) < 1 + WORKERS:
                if time.monotonic() > deadline:
                    logs = sh(*compose, "logs", "--tail", "30", env=compose_env, check=False).stdout
                    pytest.fail(f"{len(nodes)} of {1 + WORKERS} nodes alive\n{logs[-4000:]}")
                time.sleep(3)

        with phase(engine.timings, "job"):
            job_id = f"compose-smoke-{os.getpid()}"
            submit = sh(
                "ray", "job", "submit", "--address", dashboard, "--submission-id", job_id, "--working-dir", ROOT,
                "--", "python", "sweeps/threshold.py", *SMOKE, env=env, cwd=ROOT, timeout=1200, check=False,
            )  # fmt: skip
            assert submit.returncode == 0, submit.stdout[-4000:] + submit.stderr[-2000:]
            status = "import sys; from ray.job_submission import JobSubmissionClient as C; "
            status += "print(C(sys.argv[1]).get_job_status(sys.argv[2]).value)"
            assert sh(sys.executable, "-c", status, dashboard, job_id, env=env).stdout.split()[-1] == "SUCCEEDED"

        # Trials ran on the workers: their node ids are the worker containers' Ray nodes.
        head = sh(*compose, "ps", "-q", "head", env=compose_env).stdout.split()
        workers = sh(*compose, "ps", "-q", "worker", env=compose_env).stdout.split()
        assert len(head) == 1 and len(workers) == WORKERS
        containers = {cid: engine.inspect(cid) for cid in head + workers}
        ip_of = {
            cid: next(iter(c["NetworkSettings"]["Networks"].values()))["IPAddress"] for cid, c in containers.items()
        }
        node_of_ip = {n["node_ip"]: n["node_id"] for n in nodes}
        worker_nodes = {node_of_ip[ip_of[cid]] for cid in workers}
        assert len(worker_nodes) == WORKERS and node_of_ip[ip_of[head[0]]] not in worker_nodes
        volume = engine.docker("volume", "inspect", f"{project}_shared", "--format", "{{.Mountpoint}}").stdout
        (run_dir,) = [p for p in (Path(volume.strip()) / "results" / "threshold").iterdir() if p.is_dir()]
        results = trial_results(run_dir)
        assert len(results) == 3 and len((run_dir / "trials.csv").read_text().splitlines()) == 4
        assert {r["node_id"] for r in results} <= worker_nodes
        assert {r["hostname"] for r in results} <= {containers[cid]["Config"]["Hostname"] for cid in workers}
        print(f"trials per worker node: { {n: sum(r['node_id'] == n for r in results) for n in worker_nodes} }")

        # Every published port is bound to 127.0.0.1 only: the head's three, none on the workers.
        published = {
            (cid, port, binding["HostIp"], int(binding["HostPort"]))
            for cid, c in containers.items()
            for port, bindings in (c["NetworkSettings"]["Ports"] or {}).items()
            for binding in bindings or []
        }
        assert published == {(head[0], f"{PORTS[v]}/tcp", "127.0.0.1", ports[v]) for v in PORTS}
        for address in non_loopback_addresses():
            for port in ports.values():
                with socket.socket() as s:
                    s.settimeout(3)
                    assert s.connect_ex((address, port)) != 0, f"port {port} answers on {address}"

        # A wrong token is refused by the same dashboard.
        refused = sh("ray", "list", "nodes", "--address", dashboard, env=ray_env("0" * 64), timeout=120, check=False)
        assert refused.returncode != 0 and "auth" in (refused.stdout + refused.stderr).lower()
    finally:
        with phase(engine.timings, "compose down"):
            sh(*compose, "down", "-v", "--timeout", "5", env=compose_env, timeout=300, check=False)

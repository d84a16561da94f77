"""Structure of the shipped deployment files (no Docker engine or SSH needed).

The fast checks: test_compose.py starts docker-compose.yml for real (marker `compose`) and
test_ray_submit.py brings cluster.yaml up.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_a_head_and_scalable_workers_on_one_image():
    services = compose()["services"]
    assert set(services) == {"head", "worker"}
    assert services["head"]["image"] == services["worker"]["image"]
    assert "container_name" not in services["worker"]  # `--scale worker=N` needs no fixed name
    assert "ray start --head" in services["head"]["command"]
    assert "ray start --address=ray-head:6379" in services["worker"]["command"]
    assert services["worker"]["depends_on"] == ["head"]


def test_compose_publishes_ports_on_loopback_only_and_turns_token_auth_on():
    services = compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
            # 127.0.0.1:${VARIABLE:-N}:N: the container's port on the host unless the environment says
            match = re.fullmatch(r"127\.0\.0\.1:(?:\$\{\w+:-)?(\d+)\}?:(\d+)", str(port))
            assert match and match[1] == match[2], f"{name} publishes {port}"
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?")  # refuses to start without one
    assert "worker" not in {n for n, s in services.items() if s.get("ports")}


def test_compose_shares_one_volume_at_the_same_path_with_enough_shm():
    document = compose()
    assert "shared" in document["volumes"]
    for service in document["services"].values():
        assert "shared:/shared" in service["volumes"]
        assert service["environment"]["SHIELDSWEEP_ARTIFACTS"].startswith("/shared/")
        size = service["shm_size"]
        assert size.endswith("gb") and int(size[:-2]) >= 2


def test_dockerfile_installs_the_project_and_its_artifacts():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and "COPY artifacts" in text
    for package in ("shield", "rllib_algos", "sweeps"):
        assert f"COPY {package}" in text


def test_dockerfile_builds_from_docker_hub_and_pypi_by_default():
    """Without build args: python:3.11-slim and PyPI with PyTorch's CPU index (a local base
    and a wheelhouse are build args, see test_compose.py)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert "ARG BASE=python:3.11-slim" in lines and "FROM ${BASE}" in lines
    assert 'ARG PIP_OPTIONS="--extra-index-url https://download.pytorch.org/whl/cpu"' in lines


def test_dockerignore_keeps_what_the_dockerfile_copies_and_nothing_else():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    kept = [line for line in lines if line and not line.startswith("#")]
    assert kept[0] == "*" and not any(line.startswith("!results") for line in kept)  # results/: hundreds of MB
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert f"!{source.rstrip('*')}" in kept, source


def cluster_config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_launcher_config_installs_the_project_into_its_own_venv_on_every_node():
    config = cluster_config()
    assert config["provider"]["type"] == "local"
    assert "." in config["file_mounts"].values() and ".venv" in config["rsync_exclude"]
    setup = config["setup_commands"]
    assert setup[0] == "python3 -m venv ~/shieldsweep-venv"  # isolated: nothing from the node's site-packages
    assert "~/shieldsweep-venv/bin/pip install -q -e ~/shieldsweep" in setup
    ray = "~/shieldsweep-venv/bin/ray"  # by absolute path: not whichever `ray` PATH has first
    for command in config["head_start_ray_commands"] + config["worker_start_ray_commands"]:
        assert command.startswith((f"{ray} stop", f"RAY_AUTH_MODE=token {ray} start"))


def test_setup_commands_keep_the_venv_first_for_ray_submit_whatever_bashrc_does(tmp_path):
    """`ray submit` runs `python` in `bash --login -c -i 'source ~/.bashrc; ...'`: after the
    setup commands, that `python` is the venv's even when ~/.bashrc puts another first, and
    after a rerun the line is there once, at the end again (a later `conda init`, say)."""
    home = tmp_path / "home"
    (home / "shieldsweep-venv" / "bin").mkdir(parents=True)
    (home / "shieldsweep-venv" / "bin" / "python").write_text("#!/bin/sh\n")
    (home / "shieldsweep-venv" / "bin" / "python").chmod(0o755)
    (home / "other" / "bin").mkdir(parents=True)
    (home / "other" / "bin" / "python").write_text("#!/bin/sh\n")
    (home / "other" / "bin" / "python").chmod(0o755)
    shadow = 'export PATH="$HOME/other/bin:$PATH"  # pyenv or conda init\n'
    (home / ".bashrc").write_text(shadow)
    bashrc_commands = [c for c in cluster_config()["setup_commands"] if ".bashrc" in c]
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "TERM": "dumb"}

    def setup() -> None:
        for command in bashrc_commands:
            subprocess.run(["bash", "-c", command], env=env, check=True, timeout=30)

    def submit_python() -> str:
        done = subprocess.run(
            ["bash", "--login", "-c", "-i", "source ~/.bashrc; command -v python"],
            env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    setup()
    assert submit_python() == str(home / "shieldsweep-venv" / "bin" / "python")
    with (home / ".bashrc").open("a") as bashrc:
        bashrc.write(shadow)
    assert submit_python() == str(home / "other" / "bin" / "python")  # until the next `ray up`
    setup()
    assert submit_python() == str(home / "shieldsweep-venv" / "bin" / "python")
    lines = (home / ".bashrc").read_text().splitlines()
    assert sum("shieldsweep-venv/bin" in line for line in lines) == 1 and "shieldsweep-venv/bin" in lines[-1]

"""Structure of the shipped deployment files (no Docker engine or SSH needed).

No Docker engine runs on the development machine, so docker-compose.yml is validated by
its structure here, not by starting it.
"""

from __future__ import annotations

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


def test_cluster_launcher_config_installs_the_project_on_every_node():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    assert config["provider"]["type"] == "local"
    assert "." in config["file_mounts"].values()
    setup = " ".join(config["setup_commands"])
    assert "pip install" in setup and "-e ~/shieldsweep" in setup and ".profile" in setup
    for command in config["head_start_ray_commands"] + config["worker_start_ray_commands"]:
        assert "ray stop" in command or "RAY_AUTH_MODE=token" in command

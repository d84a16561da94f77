from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every worker's log line, for failing tests
    # One torch thread, as Ray gives a one-CPU trial: on a busy 2-core machine two threads
    # of a small network wait on each other (a forward pass ~100x slower).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the tests that build algorithms."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def weight_files(tmp_path):
    """``{"weights": WeightFiles}``: a frozen encoder (margin 10) and Q_p with random
    weights, for symbolic observations (``.shield(**weight_files)``)."""
    from shield.weights import WeightFiles, build, save_frozen

    encoder = save_frozen(tmp_path / "encoder.pt", "encoder", "symbolic", build("encoder", "symbolic"))
    prior_q = save_frozen(tmp_path / "prior_q.pt", "prior_q", "symbolic", build("prior_q", "symbolic"))
    return {"weights": WeightFiles(prior_q=str(prior_q), encoders={10.0: str(encoder)})}

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# fixtures built once per module at a cost of a minute or more: the tests that share one
# run on the same pytest-xdist worker, so that it is built once
SHARED_FIXTURES = ("threshold_run", "built", "saved", "study")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every worker's log line, for failing tests
    # One torch thread, as Ray gives a one-CPU trial: on a busy 2-core machine two threads
    # of a small network wait on each other (a forward pass ~100x slower).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`: every test of tests/cluster on one worker, one after the
    other (their clusters were written to run alone beside a study, not beside each other),
    and the tests of a module that share an expensive module fixture on one worker."""
    for item in items:
        if TESTS / "cluster" in item.path.parents:
            group = "cluster"
        else:
            shared = [name for name in SHARED_FIXTURES if name in item.fixturenames]
            if not shared:
                continue
            group = f"{item.path.stem}:{shared[0]}"
        item.add_marker(pytest.mark.xdist_group(group))


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

"""The whole pretraining pipeline at the smoke budget, end to end, as real Ray tasks (slow);
the specs and the committed artifacts, without Ray."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rllib_algos import ShieldedDQNConfig
from rllib_algos.pretrain import ensure_artifacts
from rllib_algos.pretrain_budgets import EVAL_ENVS, EVAL_SEED, check_budget, encoder_spec, prior_spec, source_spec
from shield.artifacts import DEFAULT_ROOT, ArtifactError, ArtifactSpec, ArtifactStore
from shield.pretrain_data import random_experience
from shield.quality import encoder_auc, prior_q_quality, state_check_figures, unsafe_distances
from shield.settings import PAPER_SHIELD
from shield.weights import load_frozen


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    store = ArtifactStore(tmp_path_factory.mktemp("artifacts"))
    paths = ensure_artifacts("symbolic", "smoke", margins=(10.0, 3.0), store=store, progress=lambda m: None)
    return store, paths


@pytest.mark.slow  # builds the smoke artifacts as Ray tasks
def test_pipeline_writes_artifacts_with_manifests(built):
    store, paths = built
    assert paths.margins == [3.0, 10.0] and paths.prior_q == str(store.weights(prior_spec("symbolic", "smoke")))
    assert paths.encoder(10.0) == str(store.weights(encoder_spec("symbolic", "smoke", 10.0)))
    for spec in (prior_spec("symbolic", "smoke"), encoder_spec("symbolic", "smoke", 10.0)):
        manifest = store.manifest(spec)
        assert manifest["config"] == spec.config
        assert {"torch", "ray", "gymnasium", "minigrid"} <= set(manifest["versions"])
        assert manifest["budget"] and manifest["train_s"] > 0
        assert set(manifest["quality"]) == set(EVAL_ENVS)
    assert (store.folder(encoder_spec("symbolic", "smoke", 10.0)) / "latent.png").stat().st_size > 10_000
    for quality in store.manifest(prior_spec("symbolic", "smoke"))["quality"].values():
        assert 0.0 <= quality["unsafe_flagged"] <= 1.0 and quality["n_unsafe"] > 0


@pytest.mark.slow  # builds the smoke artifacts as Ray tasks
def test_artifacts_load_into_shielded_dqn(built):
    _, paths = built
    config = (
        ShieldedDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(mode="shield", margin=10.0, weights=paths)
        .training(num_steps_sampled_before_learning_starts=100)
        .reporting(min_sample_timesteps_per_iteration=200)
    )
    algo = config.build_algo()
    try:
        assert algo.train()["env_runners"]["shield"]["steps"] >= 200
    finally:
        algo.stop()


@pytest.mark.slow  # builds the smoke artifacts as Ray tasks
def test_cached_artifacts_are_reused_and_corrupt_ones_rebuilt(built):
    store, paths = built
    messages: list[str] = []
    again = ensure_artifacts("symbolic", "smoke", margins=(10.0, 3.0), store=store, progress=messages.append)
    assert again == paths and all("cached" in m for m in messages)

    spec = encoder_spec("symbolic", "smoke", 3.0)
    store.weights(spec).write_bytes(b"corrupted")
    with pytest.raises(ArtifactError, match="SHA-256"):
        store.check(spec)
    messages.clear()
    rebuilt = ensure_artifacts("symbolic", "smoke", margins=(3.0,), store=store, progress=messages.append)
    assert store.check(spec) == store.weights(spec)
    assert rebuilt.encoder(3.0) == paths.encoder(3.0)
    assert any("building 1 artifact" in m for m in messages)


@pytest.mark.slow  # builds the smoke artifacts as Ray tasks
def test_manifest_for_another_config_is_refused(built, tmp_path):
    store, _ = built
    spec = encoder_spec("symbolic", "smoke", 10.0)
    manifest_path = store.folder(spec) / "manifest.json"
    original = manifest_path.read_text()
    manifest = json.loads(original)
    manifest["config"]["margin"] = 99.0
    manifest_path.write_text(json.dumps(manifest))
    try:
        with pytest.raises(ArtifactError, match="manifest config"):
            store.check(spec)
    finally:
        manifest_path.write_text(original)
    with pytest.raises(ArtifactError, match="missing"):
        ArtifactStore(tmp_path).check(spec)


def test_spec_keys_are_stable_and_distinct():
    a = encoder_spec("symbolic", "quick", 10)
    assert a.key == encoder_spec("symbolic", "quick", 10.0).key
    assert a.key != encoder_spec("symbolic", "quick", 5.0).key != encoder_spec("pixels", "quick", 10.0).key
    assert a.key.startswith("encoder-symbolic-quick-margin10.0-")
    with pytest.raises(ValueError, match="margin must be > 0"):
        encoder_spec("symbolic", "quick", 0)
    with pytest.raises(ValueError, match="kind must be one of"):
        ArtifactSpec.make("critic", "symbolic", "quick")


def test_sources_are_shared_by_budgets_that_train_them_equally_long():
    env_id = "MiniGrid-LavaCrossingS9N1-v0"
    assert source_spec(env_id, "symbolic", "quick").key == source_spec(env_id, "symbolic", "paper").key
    assert source_spec(env_id, "symbolic", "smoke").key != source_spec(env_id, "symbolic", "quick").key


def tolerance(figure: float, n: int, z: float = 4.0) -> float:
    """z standard errors of a rate (or ROC AUC) measured on n cases: sqrt(p(1 − p)/n),
    which bounds the AUC's with n the smaller class; at least 1/n (a figure of 1.0 on n
    cases says nothing closer than one case)."""
    return z * math.sqrt(max(figure * (1 - figure), 1 / n) / n)


def test_committed_quick_symbolic_artifacts_are_current_and_meet_the_targets():
    """A fresh checkout runs a study at once: the quick symbolic Q_p and default encoder
    are committed under today's keys and intact, meet the targets on held-out layouts,
    and their manifests' quality figures are what the weight files give.

    The figures are recomputed as the pretraining measured them (the evaluation envs and
    seed), on half the evaluation budget's steps: the first half of the manifests' sample.
    """
    store = ArtifactStore(DEFAULT_ROOT)
    prior, encoder = prior_spec("symbolic", "quick"), encoder_spec("symbolic", "quick", PAPER_SHIELD.margin)
    prior_q = load_frozen(store.check(prior), "prior_q", "symbolic")
    f_theta = load_frozen(store.check(encoder), "encoder", "symbolic")
    recorded_q, recorded_auc = store.manifest(prior)["quality"], store.manifest(encoder)["quality"]
    assert set(recorded_q) == set(recorded_auc) == set(EVAL_ENVS)
    steps = check_budget("quick").eval_steps // 2
    for env_id in EVAL_ENVS:
        data = random_experience([env_id], "symbolic", steps, EVAL_SEED)

        q = prior_q_quality(prior_q, data)
        assert q["unsafe_flagged"] >= 0.95, (env_id, q)
        assert q["unsafe_flagged"] == pytest.approx(
            recorded_q[env_id]["unsafe_flagged"], abs=tolerance(q["unsafe_flagged"], q["n_unsafe"])
        ), env_id

        auc = encoder_auc(f_theta, data)
        query = data.lava_ahead[data.episode > np.median(data.episode)]  # the states encoder_auc ranks
        smaller_class = int(min(query.sum(), (~query).sum()))
        assert auc >= 0.95, (env_id, auc)
        assert auc == pytest.approx(recorded_auc[env_id]["roc_auc"], abs=tolerance(auc, smaller_class)), env_id

        # the state check at the study defaults (d_max 2.5, fixed) meets its targets on every env
        D, ahead = unsafe_distances(f_theta, data)
        at_default = state_check_figures(D, ahead, PAPER_SHIELD.d_max)
        assert at_default["flag_rate"] <= 0.2 and at_default["precision"] >= 0.5, (env_id, at_default)
        assert at_default["recall"] >= 0.9, (env_id, at_default)
        recorded = recorded_auc[env_id]["operating_points"]["d_max"][f"{PAPER_SHIELD.d_max:g}"]
        for key, value in at_default.items():
            assert value == pytest.approx(recorded[key], abs=tolerance(value, int(ahead.sum()))), (env_id, key)


def test_committed_quick_pixel_artifacts_are_found_and_meet_the_targets():
    """`--obs pixels` starts at once on a fresh checkout: the distilled Q_p and the α = 10
    encoder are committed under today's keys, ensure_artifacts finds them without building
    (no Ray), and on a sample of the manifests' held-out states they flag forward-into-lava
    as the manifests say, the student as its symbolic teacher does."""
    store = ArtifactStore(DEFAULT_ROOT)
    messages: list[str] = []
    weights = ensure_artifacts("pixels", "quick", store=store, progress=messages.append)
    assert len(messages) == 2 and all("cached" in m for m in messages)
    prior = prior_spec("pixels", "quick")
    assert weights.prior_q == str(store.weights(prior)) and prior.config["variant"] == "distilled"
    manifest = store.manifest(prior)
    assert set(manifest["quality"]) == set(manifest["teacher_quality"]) == set(EVAL_ENVS)
    prior_q = load_frozen(weights.prior_q, "prior_q", "pixels")
    steps = check_budget("quick").eval_steps // 4
    for env_id in EVAL_ENVS:
        q = prior_q_quality(prior_q, random_experience([env_id], "pixels", steps, EVAL_SEED))
        assert q["unsafe_flagged"] >= 0.95, (env_id, q)
        recorded = manifest["quality"][env_id]["unsafe_flagged"]
        assert q["unsafe_flagged"] == pytest.approx(recorded, abs=tolerance(recorded, q["n_unsafe"])), env_id
        teacher = manifest["teacher_quality"][env_id]
        assert abs(recorded - teacher["unsafe_flagged"]) <= tolerance(recorded, teacher["n_unsafe"]), env_id
    encoder = store.manifest(encoder_spec("pixels", "quick", PAPER_SHIELD.margin))["quality"]
    assert set(encoder) == set(EVAL_ENVS) and all(encoder[e]["roc_auc"] >= 0.95 for e in EVAL_ENVS)

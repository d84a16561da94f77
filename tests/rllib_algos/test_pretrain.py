"""The whole pretraining pipeline at the smoke budget, end to end, as real Ray tasks."""

from __future__ import annotations

import json

import pytest

from rllib_algos import ShieldedDQNConfig
from rllib_algos.artifacts import DEFAULT_ROOT, ArtifactError, ArtifactSpec, ArtifactStore
from rllib_algos.pretrain import DEFAULT_MARGIN, EVAL_ENVS, encoder_spec, ensure_artifacts, prior_spec, source_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    store = ArtifactStore(tmp_path_factory.mktemp("artifacts"))
    paths = ensure_artifacts("symbolic", "smoke", margins=(10.0, 3.0), store=store, progress=lambda m: None)
    return store, paths


def test_pipeline_writes_artifacts_with_manifests(built):
    store, paths = built
    assert set(paths) == {"prior_q_path", "encoder_path:10.0", "encoder_path:3.0"}
    for spec in (prior_spec("symbolic", "smoke"), encoder_spec("symbolic", "smoke", 10.0)):
        manifest = store.manifest(spec)
        assert manifest["config"] == spec.config
        assert {"torch", "ray", "gymnasium", "minigrid"} <= set(manifest["versions"])
        assert manifest["budget"] and manifest["train_s"] > 0
        assert set(manifest["quality"]) == set(EVAL_ENVS)
    assert (store.folder(encoder_spec("symbolic", "smoke", 10.0)) / "latent.png").stat().st_size > 10_000
    for quality in store.manifest(prior_spec("symbolic", "smoke"))["quality"].values():
        assert 0.0 <= quality["unsafe_flagged"] <= 1.0 and quality["n_unsafe"] > 0


def test_artifacts_load_into_shielded_dqn(built):
    _, paths = built
    config = (
        ShieldedDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(mode="shield", encoder_path=paths["encoder_path:10.0"], prior_q_path=paths["prior_q_path"])
        .training(num_steps_sampled_before_learning_starts=100)
        .reporting(min_sample_timesteps_per_iteration=200)
    )
    algo = config.build_algo()
    try:
        assert algo.train()["env_runners"]["shield"]["steps"] >= 200
    finally:
        algo.stop()


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
    assert rebuilt["encoder_path:3.0"] == paths["encoder_path:3.0"]
    assert any("building 1 artifact" in m for m in messages)


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


def test_committed_quick_symbolic_artifacts_are_current_and_meet_the_targets():
    """A fresh checkout runs a sweep at once: the quick symbolic Q_p and default encoder
    are committed under today's keys, intact, and meet the targets on held-out layouts."""
    store = ArtifactStore(DEFAULT_ROOT)
    prior, encoder = prior_spec("symbolic", "quick"), encoder_spec("symbolic", "quick", DEFAULT_MARGIN)
    store.check(prior)
    store.check(encoder)
    for env_id in EVAL_ENVS:
        assert store.manifest(prior)["quality"][env_id]["unsafe_flagged"] >= 0.95, env_id
        assert store.manifest(encoder)["quality"][env_id]["roc_auc"] >= 0.95, env_id

from __future__ import annotations

import pytest
import torch

from rllib_algos import ShieldedDQNConfig
from rllib_algos.metrics import derived_metrics, pack_decisions, step_counts, unpack_decisions
from shield.envs import DEFAULT_ENV as ENV
from shield.envs import FORWARD
from shield.weights import WeightFiles, build, save_frozen


def config(weight_files, **shield) -> ShieldedDQNConfig:
    return (
        ShieldedDQNConfig()
        .environment(ENV, env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(**(weight_files | shield))
    )


def test_defaults_are_the_papers_but_the_buffer_and_d_max_rules():
    c = ShieldedDQNConfig()
    assert c.shield_config == {
        "mode": "shield",
        "d_max": 2.5,
        "margin": 10.0,
        "rho": 0.95,
        "buffer_size": 100,
        "buffer_rule": "distinct",
        "k": 10,
        "tau": 0.0,
        "d_max_rule": "capped",
        "adaptive_recall": 0.9,
        "adaptive_flag_rate": 0.2,
        "weights": WeightFiles(),
    }
    assert (c.lr, c.gamma, c.train_batch_size_per_learner) == (2.5e-4, 0.99, 128)
    assert c.replay_buffer_config["capacity"] == 10_000 and c.replay_buffer_config["alpha"] == 0.5
    assert (c.double_q, c.dueling, c.target_network_update_freq) == (True, False, 500)
    assert c.num_steps_sampled_before_learning_starts == 10_000
    assert c.epsilon == [(0, 1.0), (180_000, 0.05)]


def test_shield_builder_keeps_unset_values_and_reaches_the_model_config(weight_files):
    c = config(weight_files, d_max=1.5).shield(rho=0.5)
    assert c.shield_config["d_max"] == 1.5 and c.shield_config["rho"] == 0.5 and c.shield_config["k"] == 10
    assert c.model_config["shield"]["d_max"] == 1.5
    c.validate()


@pytest.mark.parametrize(
    ("shield", "message"),
    [
        ({"d_max": 0.0}, "d_max must be a finite number > 0, got 0.0"),
        ({"d_max": -1.0}, "d_max must be"),
        ({"rho": 1.01}, r"rho must be in \[0, 1\]"),
        ({"rho": -0.5}, r"rho must be in \[0, 1\]"),
        ({"buffer_size": 0}, "buffer_size must be an integer >= 1"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"mode": "cbf"}, r"mode must be one of \['dqn', 'priors', 'shield'\]"),
        ({"margin": -1.0}, "margin must be a finite number > 0"),
        (
            {"weights": WeightFiles(prior_q="/nonexistent/q.pt", encoders={10.0: "/nonexistent/encoder.pt"})},
            "weights.encoders '/nonexistent/encoder.pt' does not exist",
        ),
        ({"margin": 5.0}, r"no encoder for margin 5.0: the weight files hold margins \[10.0\]"),
        ({"weights": WeightFiles()}, "no encoder for margin 10.0"),
        ({"weights": {"prior_q": "q.pt"}}, "weights must be a shield.weights.WeightFiles"),
        ({"dueling": True}, "no dueling or distributional head"),
    ],
)
def test_bad_shield_settings_fail_in_validate(weight_files, shield, message):
    dqn = {key: shield.pop(key) for key in ("dueling",) if key in shield}
    with pytest.raises(ValueError, match=message):
        config(weight_files, **shield).training(**dqn).validate()


def test_modes_need_only_their_own_weight_files(weight_files):
    config({"weights": WeightFiles()}, mode="dqn").validate()
    config({"weights": WeightFiles(prior_q=weight_files["weights"].prior_q)}, mode="priors").validate()
    with pytest.raises(ValueError, match="weights.prior_q is required"):
        config({"weights": WeightFiles()}, mode="priors").validate()


def test_unknown_env_or_obs_kind_fails_in_validate(weight_files):
    with pytest.raises(ValueError, match="env must be one of"):
        config(weight_files).environment("CartPole-v1").validate()
    with pytest.raises(ValueError, match="obs must be one of"):
        config(weight_files).environment(ENV, env_config={"obs": "rgb"}).validate()


def test_weight_file_for_other_obs_kind_fails_in_validate(weight_files, tmp_path):
    pixels = save_frozen(tmp_path / "px.pt", "encoder", "pixels", build("encoder", "pixels"))
    weights = WeightFiles(prior_q=weight_files["weights"].prior_q, encoders={10.0: str(pixels)})
    with pytest.raises(ValueError, match="weights.encoders .* trained for obs='pixels'"):
        config(weight_files, weights=weights).validate()


def test_replay_beta_is_a_declared_training_argument_and_checked():
    from rllib_algos import PaperDQNConfig

    c = PaperDQNConfig().environment(ENV).training(replay_beta=[(0, 0.4), (1000, 1.0)], lr=1e-3)
    assert c.replay_beta == [(0, 0.4), (1000, 1.0)] and c.lr == 1e-3
    c.validate()
    with pytest.raises(ValueError, match="replay_beta must be"):
        c.training(replay_beta=[(1000, 0.4), (0, 1.0)]).validate()


def test_bad_input_fails_before_ray_starts(weight_files):
    import ray

    if ray.is_initialized():
        pytest.skip("Ray already running in this process")
    with pytest.raises(ValueError, match="rho must be in"):
        config(weight_files, rho=2.0).build_algo()
    assert not ray.is_initialized()


def test_step_counts_against_hand_computed_cases():
    cost = torch.tensor([0, 0, 1, 0]).numpy()
    unsafe_state = torch.tensor([1, 1, 1, 0]).numpy()
    proposed = torch.tensor([FORWARD, FORWARD, FORWARD, 0]).numpy()
    flagged = torch.tensor([1, 1, 0, 1]).numpy()
    judged = torch.tensor([1, 0, 0, 1]).numpy()
    replaced = torch.tensor([1, 0, 0, 1]).numpy()
    c = step_counts(cost, unsafe_state, proposed, flagged, judged, replaced)
    assert c == {
        "steps": 4,
        "violations_total": 1,
        "interventions_total": 2,
        "flagged": 3,
        "state_tp": 2,
        "state_fp": 1,
        "state_fn": 1,
        "action_tp": 1,
        "action_fp": 1,
        "action_fn": 1,
    }
    rates = derived_metrics(c | {"episodes": 2, "return_sum": 1.0})
    assert rates["state_precision"] == pytest.approx(2 / 3) and rates["state_recall"] == pytest.approx(2 / 3)
    assert rates["action_precision"] == 0.5 and rates["return_auc"] == 0.5
    assert rates["state_flag_rate"] == 0.75


def test_undefined_rates_are_nan_not_zero():
    rates = derived_metrics({"steps": 10})
    assert all(rates[k] != rates[k] for k in ("state_precision", "action_recall", "return_auc"))


def test_packed_decisions_round_trip_from_torch_to_numpy():
    """The module packs torch tensors; the callbacks unpack numpy: every combination survives."""
    proposed = torch.arange(7).repeat_interleave(8)  # 56 steps: 7 actions × 8 flag patterns
    bits = torch.arange(8).repeat(7)
    flagged, judged, replaced = (bits & 1) > 0, (bits & 2) > 0, (bits & 4) > 0
    packed = pack_decisions(proposed, flagged, judged, replaced).numpy()
    out = unpack_decisions(packed)
    assert (out["proposed"] == proposed.numpy()).all()
    assert (out["flagged"] == flagged.numpy()).all()
    assert (out["proposed_unsafe"] == judged.numpy()).all()
    assert (out["replaced"] == replaced.numpy()).all()


def test_the_shield_builder_takes_every_shield_setting():
    from shield.settings import ShieldParams

    settings = ShieldParams(d_max=1.5, d_max_rule="adaptive", adaptive_recall=0.8, adaptive_flag_rate=0.1).to_dict()
    c = ShieldedDQNConfig().shield(**settings)
    assert {key: c.shield_config[key] for key in settings} == settings

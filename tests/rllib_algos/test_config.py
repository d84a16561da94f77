from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rllib_algos import ShieldedDQNConfig
from rllib_algos.metrics import derived_metrics, pack_decisions, step_counts, unpack_decisions
from shield.envs import DEFAULT_ENV as ENV
from shield.envs import FORWARD
from shield.weights import WeightFiles, build, save_frozen

ROOT = Path(__file__).resolve().parents[2]


def config(weight_files, **shield) -> ShieldedDQNConfig:
    return (
        ShieldedDQNConfig()
        .environment(ENV, env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(**(weight_files | shield))
    )


def test_defaults_are_the_papers_but_the_buffer_and_d_max_rules():
    from shield.settings import DEFAULT_SHIELD, ShieldParams

    c = ShieldedDQNConfig()
    assert c.shield_params == DEFAULT_SHIELD == ShieldParams()
    assert c.to_dict()["shield_config"] == {
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
    assert (c.shield_params.d_max, c.shield_params.rho, c.shield_params.k) == (1.5, 0.5, 10)
    assert c.model_config["shield"] is c.shield_params
    assert c.model_config["shield_weights"] is c.shield_weights
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
        ({"mode": "cbf"}, r"mode must be one of \['dqn', 'priors', 'state_only', 'shield'\]"),
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
def test_bad_shield_settings_fail_before_any_actor_starts(weight_files, shield, message):
    dqn = {key: shield.pop(key) for key in ("dueling",) if key in shield}
    with pytest.raises(ValueError, match=message):
        config(weight_files, **shield).training(**dqn).validate()


def test_modes_need_only_their_own_weight_files(weight_files):
    config({"weights": WeightFiles()}, mode="dqn").validate()
    config({"weights": WeightFiles(prior_q=weight_files["weights"].prior_q)}, mode="priors").validate()
    with pytest.raises(ValueError, match="weights.prior_q is required"):
        config({"weights": WeightFiles()}, mode="priors").validate()
    encoder_only = WeightFiles(encoders=dict(weight_files["weights"].encoders))
    config({"weights": encoder_only}, mode="state_only").validate()  # no Q_p needed
    with pytest.raises(ValueError, match="no encoder for margin 10.0"):
        config({"weights": WeightFiles(prior_q=weight_files["weights"].prior_q)}, mode="state_only").validate()


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


BAD_RHO = """
import sys
import ray
from shield.weights import WeightFiles
from tests.rllib_algos.test_config import config

weights = WeightFiles(prior_q=sys.argv[1], encoders={10.0: sys.argv[2]})
try:
    config({"weights": weights}, rho=2.0).build_algo()
except ValueError as err:
    assert "rho must be in" in str(err), err
else:
    raise AssertionError("build_algo accepted rho=2.0")
assert not ray.is_initialized(), "Ray started before the bad setting was refused"
"""


def test_bad_input_fails_before_ray_starts(weight_files):
    """In an interpreter of its own: this one may run Ray already (the session's fixture)."""
    weights = weight_files["weights"]
    done = subprocess.run(
        [sys.executable, "-c", BAD_RHO, weights.prior_q, weights.encoder(10.0)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]


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


def test_the_shield_builder_takes_a_setting_and_tune_gets_it_back_as_it_was(weight_files):
    from shield.settings import PAPER_SHIELD, ShieldParams

    setting = ShieldParams(d_max=1.5, d_max_rule="adaptive", adaptive_recall=0.8, adaptive_flag_rate=0.1)
    c = ShieldedDQNConfig().shield(setting, **weight_files)
    assert c.shield_params == setting and c.shield_weights == weight_files["weights"]
    assert ShieldedDQNConfig().shield(PAPER_SHIELD, d_max=3.0).shield_params == ShieldParams(
        buffer_rule="ring", d_max_rule="fixed", d_max=3.0
    )
    # what Tune holds (a dict it can show and sample) reads back into the same types
    again = ShieldedDQNConfig().update_from_dict(c.to_dict())
    assert again.shield_params == setting and again.shield_weights == weight_files["weights"]
    with pytest.raises(ValueError, match=r"unknown shield settings \['dmax'\]"):
        ShieldedDQNConfig().shield(dmax=1.0)


def paper_config():
    from rllib_algos import PaperDQNConfig

    return PaperDQNConfig().environment(ENV, env_config={"obs": "symbolic", "layout_seed": 123})


def test_the_replay_config_names_paperdqns_replay_and_asks_rllib_for_none():
    from rllib_algos.paper_dqn import TRANSITION_REPLAY
    from rllib_algos.replay import TransitionReplay

    c = paper_config().training(replay_buffer_config={"capacity": 5000})
    assert c.replay_buffer_config == {
        "type": TRANSITION_REPLAY,
        "no_local_replay_buffer": True,
        "capacity": 5000,
        "alpha": 0.5,
    }
    assert TRANSITION_REPLAY == TransitionReplay.__name__
    c.validate()
    # as Tune hands it to a trial: the config dict, read back
    again = type(c)().update_from_dict(c.to_dict())
    assert again.replay_buffer_config == c.replay_buffer_config
    again.validate()


@pytest.mark.parametrize(
    "replay",
    [
        {"type": "PrioritizedEpisodeReplayBuffer", "capacity": 10_000, "alpha": 0.5, "beta": 0.4},
        {"beta": 0.4},
        {"no_local_replay_buffer": False},
    ],
)
def test_a_replay_config_rllib_would_build_or_nothing_reads_fails_in_validate(replay):
    with pytest.raises(ValueError, match=r"set only its capacity and alpha.*replay_beta"):
        paper_config().training(replay_buffer_config=replay).validate()


def test_remote_learners_or_env_runners_fail_in_validate_with_what_to_set():
    with pytest.raises(ValueError, match=r"set learners\(num_learners=0\), got 1"):
        paper_config().learners(num_learners=1).validate()
    with pytest.raises(ValueError, match=r"set env_runners\(num_env_runners=0\), got 2"):
        paper_config().env_runners(num_env_runners=2).validate()
    # evaluation EnvRunners are RLlib's own: they may be remote
    paper_config().evaluation(evaluation_num_env_runners=2).get_evaluation_config_object().validate()


def test_rllibs_new_api_stack_notice_is_dropped_and_nothing_else():
    """RLlib warns once per algorithm name and process: fresh names see it afresh."""
    import logging

    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    from rllib_algos.paper_dqn import PaperDQN, PaperDQNConfig, _not_the_new_api_stack_notice

    class FilteredProbe(PaperDQN):
        pass

    class UnfilteredProbe(PaperDQN):
        pass

    logger = logging.getLogger(AlgorithmConfig.__module__)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        PaperDQNConfig(algo_class=FilteredProbe).environment(ENV).validate()
        logger.warning("any other warning")
        logger.removeFilter(_not_the_new_api_stack_notice)
        try:  # what RLlib prints without the filter: the record it drops is still there to drop
            PaperDQNConfig(algo_class=UnfilteredProbe).environment(ENV).validate()
        finally:
            logger.addFilter(_not_the_new_api_stack_notice)
    finally:
        logger.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert messages[0] == "any other warning" and len(messages) == 2
    assert messages[1].startswith("You are running UnfilteredProbe on the new API stack!")


@pytest.mark.slow
def test_a_built_paperdqn_has_no_rllib_replay_buffer_and_no_remote_actors(ray_local):
    from rllib_algos.replay import TransitionReplay

    algo = paper_config().build_algo()
    try:
        assert algo.local_replay_buffer is None and isinstance(algo.transitions, TransitionReplay)
        assert algo.learner_group.is_local and algo.env_runner_group.num_remote_env_runners() == 0
    finally:
        algo.stop()


def test_a_config_dict_naming_rllibs_replay_buffer_reads_as_paperdqns_replay():
    """Runs stored with a config that named RLlib's buffer (which PaperDQN never read)
    resume: their capacity and alpha are kept, the rest is PaperDQN's replay."""
    from rllib_algos import PaperDQNConfig

    stored = PaperDQNConfig().to_dict()
    stored["replay_buffer_config"] = {
        "type": "PrioritizedEpisodeReplayBuffer",
        "capacity": 5000,
        "alpha": 0.6,
        "beta": 0.4,
    }
    again = PaperDQNConfig().update_from_dict(stored)
    assert again.replay_buffer_config == PaperDQNConfig().replay_buffer_config | {"capacity": 5000, "alpha": 0.6}
    again.validate()

"""The search's Optuna study in its journal: written, read back, continued by a resumed
searcher, and Optuna's plots of it (no Ray started)."""

from __future__ import annotations

import matplotlib
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from sweeps.pareto_search import MARGINS, SEARCH_METRICS, SPACE, STUDY, search_config
from sweeps.plan import make_plan, parse_args
from sweeps.search_storage import JOURNAL, STUDY_NAME, create_search_study, journal_storage, write_study_plots

# the settings as OptunaSearch names them in the study (Tune's nested keys joined by "/")
DISTRIBUTIONS = {
    "shield_config/d_max": FloatDistribution(*SPACE["d_max"]),
    "shield_config/rho": FloatDistribution(*SPACE["rho"]),
    "shield_config/buffer_size": CategoricalDistribution(SPACE["buffer_size"]),
    "shield_config/margin": CategoricalDistribution(MARGINS),
}


@pytest.fixture(autouse=True)
def quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def tell_trials(study: optuna.Study, n: int, violations=None) -> dict[int, list[float]]:
    """`n` finished trials, told as the search tells them: settings drawn from the search's
    space, [return_final, violations_total] from them (`violations`: a fixed count)."""
    told = {}
    for _ in range(n):
        trial = study.ask(DISTRIBUTIONS)
        d_max, rho = trial.params["shield_config/d_max"], trial.params["shield_config/rho"]
        values = [0.95 - 0.05 * d_max, float(round(100 * (1 - rho) * d_max) if violations is None else violations)]
        study.tell(trial, values)
        told[trial.number] = values
    return told


def test_the_journal_gives_back_every_finished_trial_and_both_values(tmp_path):
    study = create_search_study(journal_storage(tmp_path), SEARCH_METRICS)
    told = tell_trials(study, 6)
    study.ask(DISTRIBUTIONS)  # one still running: not finished, not in the count

    assert (tmp_path / JOURNAL).stat().st_size > 0
    loaded = optuna.load_study(study_name=STUDY_NAME, storage=journal_storage(tmp_path))
    finished = loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert {trial.number: trial.values for trial in finished} == told
    assert all(set(trial.params) == set(DISTRIBUTIONS) for trial in finished)
    assert loaded.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert loaded.metric_names == ["return_final", "violations_total"]


def test_opening_the_study_again_continues_it(tmp_path):
    tell_trials(create_search_study(journal_storage(tmp_path), SEARCH_METRICS), 2)
    storage = journal_storage(tmp_path)
    tell_trials(create_search_study(storage, SEARCH_METRICS), 3)
    assert optuna.get_all_study_names(storage) == [STUDY_NAME]
    assert len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials) == 5


def test_a_restored_searcher_goes_on_writing_to_the_same_study(tmp_path):
    """The search's OptunaSearch, saved and restored the way Tune resumes it (its state in
    the experiment folder), tells its trials to the one study in the run's journal."""
    from ray import tune

    plan = make_plan(STUDY, parse_args(STUDY, ["--budget", "smoke", "--storage", str(tmp_path)]))
    space = {
        "shield_config": {
            "d_max": tune.uniform(*SPACE["d_max"]),
            "rho": tune.uniform(*SPACE["rho"]),
            "buffer_size": tune.choice(SPACE["buffer_size"]),
            "margin": tune.choice(MARGINS),
        }
    }
    result = {"env_runners/shield/return_final": 0.9, "env_runners/shield/violations_total": 3}
    searcher = search_config(plan, trials=4).search_alg
    searcher.set_search_properties(None, None, space)  # as Tune does when the run starts
    for trial_id in ("a", "b"):
        assert set(searcher.suggest(trial_id)["shield_config"]) == set(space["shield_config"])
        searcher.on_trial_complete(trial_id, result)
    searcher.suggest("c")  # running when the driver stops
    (tmp_path / "experiment").mkdir()
    searcher.save_to_dir(str(tmp_path / "experiment"), session_str="s")

    restored = search_config(plan, trials=4).search_alg
    restored.restore_from_dir(str(tmp_path / "experiment"))
    restored.on_trial_complete("c", result)
    restored.suggest("d")
    restored.on_trial_complete("d", result)

    storage = journal_storage(plan.run_dir / "search")
    assert optuna.get_all_study_names(storage) == [STUDY_NAME]
    trials = optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 4
    assert all(trial.values == [0.9, 3.0] for trial in trials)


def test_a_small_study_gets_its_front_and_slice_plots(tmp_path, capsys):
    tell_trials(create_search_study(journal_storage(tmp_path), SEARCH_METRICS), 3)
    style = {key: value for key, value in matplotlib.rcParams.items() if not key.startswith("backend")}
    written = write_study_plots(tmp_path)
    names = ["optuna_pareto_front.png", "optuna_slice_return_final.png", "optuna_slice_violations_total.png"]
    assert [path.name for path in written] == names
    assert all((tmp_path / name).stat().st_size > 0 for name in names)
    assert "3 finished trials, importances need 20" in capsys.readouterr().out
    # Optuna's ggplot style stays inside the plots (the backend is set to Agg for good)
    assert {key: value for key, value in matplotlib.rcParams.items() if not key.startswith("backend")} == style


def test_enough_trials_get_importances_unless_an_objective_never_varies(tmp_path, capsys):
    varied, constant = tmp_path / "varied", tmp_path / "constant"
    tell_trials(create_search_study(journal_storage(varied), SEARCH_METRICS), 24)
    tell_trials(create_search_study(journal_storage(constant), SEARCH_METRICS), 24, violations=0)
    assert [path.name for path in write_study_plots(varied)] == [
        "optuna_pareto_front.png",
        "optuna_importances_return_final.png",
        "optuna_importances_violations_total.png",
    ]
    assert [path.name for path in write_study_plots(constant)][1:] == [
        "optuna_importances_return_final.png",
        "optuna_slice_violations_total.png",
    ]
    assert "cannot tell the settings apart" in capsys.readouterr().out
    assert all(path.stat().st_size > 0 for path in [*varied.glob("*.png"), *constant.glob("*.png")])


def test_no_study_or_no_finished_trial_skips_the_plots_and_says_why(tmp_path, capsys):
    assert write_study_plots(tmp_path / "none") == []
    assert "no Optuna study" in capsys.readouterr().out
    create_search_study(journal_storage(tmp_path / "empty"), SEARCH_METRICS)
    assert write_study_plots(tmp_path / "empty") == []
    assert "no finished trial" in capsys.readouterr().out

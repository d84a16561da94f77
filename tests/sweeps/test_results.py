from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweeps.paper_figures import COMPARISON_COLUMNS, PAPER_ENV, PAPER_ENV_STEPS, PAPER_FIGURES, paper_comparison
from sweeps.pareto import hypervolume_2d
from sweeps.report import CURVE_COLUMNS, latest_per_iteration
from sweeps.results import (
    HYPERVOLUME_COLUMNS,
    LEARNED_COLUMNS,
    LEARNED_RETURN,
    PARETO_COLUMNS,
    TRIAL_COLUMNS,
    append_trial_row,
    hypervolume_table,
    learned_table,
    pareto_table,
    trial_row,
)

README = Path(__file__).resolve().parents[2] / "results" / "README.md"


def fake_trials() -> pd.DataFrame:
    rows = []
    spec = {  # setting -> (return per seed, violations per seed)
        ("dqn", None): ([0.5, 0.6, 0.7], [900, 1000, 1100]),
        ("priors", None): ([0.0, 0.0, 0.1], [30, 40, 50]),
        ("shield", 2.5): ([0.9, 0.95, 0.92], [90, 100, 110]),
        ("shield", 4.0): ([0.4, 0.5, 0.45], [95, 105, 100]),  # dominated by d_max 2.5
    }
    for (mode, d_max), (returns, violations) in spec.items():
        for seed, ret, vio in zip((123, 456, 789), returns, violations, strict=True):
            shield = {"mode": mode, "rho": 0.95, "tau": 0.0}
            if mode == "shield":
                shield |= {
                    "d_max": d_max,
                    "margin": 10.0,
                    "buffer_size": 100,
                    "buffer_rule": "distinct",
                    "k": 10,
                    "d_max_rule": "capped",
                }
            config = {"shield_config": shield, "seed": seed, "env": "E", "env_config": {"obs": "symbolic"}}
            result = {
                "env_runners": {
                    "shield": {"return_final": ret, "violations_total": vio},
                    "num_env_steps_sampled_lifetime": 100,
                },
                "time_total_s": 1.0,
            }
            rows.append(trial_row(f"t{len(rows)}", "TERMINATED", config, result))
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))


def documented_columns(section: str) -> list[str]:
    text = README.read_text().split(f"## {section}")[1].split("\n## ")[0]
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([a-z_0-9]+)`", line.split("|")[1])
    return names


def test_documented_schema_matches_the_code():
    assert documented_columns("trials.csv") == list(TRIAL_COLUMNS)
    assert documented_columns("pareto.csv") == list(PARETO_COLUMNS)
    assert documented_columns("hypervolume.csv") == list(HYPERVOLUME_COLUMNS)
    assert documented_columns("curves.csv") == list(CURVE_COLUMNS)
    assert documented_columns("paper_comparison.csv") == list(COMPARISON_COLUMNS)


def test_paper_comparison_pairs_each_paper_method_with_its_row():
    trials = fake_trials().assign(env=PAPER_ENV, env_steps=PAPER_ENV_STEPS + 300)  # comparable
    table = paper_comparison(pareto_table(trials), trials)
    assert table["comparable"].all() and (table["reason"] != "").all()
    assert set(table["setting"]) <= {figure.setting for figure in PAPER_FIGURES}
    assert "dqn" in set(table["setting"]) and "priors rho=0.95 tau=0" in set(table["setting"])
    dqn = table[table["setting"] == "dqn"].iloc[0]
    ours = trials[trials["setting"] == "dqn"]["violations_total"].mean()
    assert dqn["violations_total_mean"] == ours and dqn["violations_total_paper"] == 1055.0
    assert dqn["violations_ratio"] == ours / 1055.0


def test_trial_row_blanks_settings_a_mode_does_not_use():
    trials = fake_trials()
    dqn = trials[trials["mode"] == "dqn"].iloc[0]
    assert dqn["setting"] == "dqn" and pd.isna(dqn["rho"]) and pd.isna(dqn["d_max"])
    priors = trials[trials["mode"] == "priors"].iloc[0]
    assert priors["setting"] == "priors rho=0.95 tau=0" and pd.isna(priors["d_max"])
    assert trials[trials["mode"] == "shield"]["setting"].str.contains("d_max=2.5 margin=10").any()


def test_pareto_table_ranks_and_statistics():
    table = pareto_table(fake_trials())
    assert list(table.columns) == list(PARETO_COLUMNS)
    by = table.set_index("setting")
    shield_25 = by.loc["shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"]
    shield_40 = by.loc["shield d_max=4 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"]
    assert shield_25["on_front"] and by.loc["priors rho=0.95 tau=0"]["on_front"]
    assert not by.loc["dqn"]["on_front"] and not shield_40["on_front"]
    # three seeds: below the verdicts' minimum, the means' ranking is only undecided
    assert shield_40["pareto_rank"] == 2 and shield_40["verdict"] == "undecided"
    assert "d_max=2.5" in shield_40["undecided_against"] and shield_40["dominated_by"] == ""
    assert shield_25["n_seeds"] == 3
    assert shield_25["violations_total_mean"] == pytest.approx(100.0)
    assert shield_25["violations_total_std"] == pytest.approx(10.0)
    assert shield_25["violations_total_ci_low"] <= 100.0 <= shield_25["violations_total_ci_high"]


def test_unfinished_trials_are_left_out_of_the_pareto_table():
    trials = fake_trials()
    trials.loc[trials["mode"] == "dqn", "status"] = "UNFINISHED"
    assert "dqn" not in set(pareto_table(trials)["setting"])


def test_hypervolume_table_has_a_ci_around_the_estimate():
    trials = fake_trials()
    hv = hypervolume_table(trials, pareto_table(trials))
    assert list(hv.columns) == list(HYPERVOLUME_COLUMNS)
    row = hv.iloc[0]
    assert row["ci_low"] <= row["hypervolume"] <= row["ci_high"] and row["hypervolume"] > 0
    assert row["n_front"] == 2


def test_append_trial_row_never_writes_a_trial_twice(tmp_path):
    path = tmp_path / "trials.csv"
    row = fake_trials().iloc[0].to_dict()
    assert append_trial_row(path, row) and not append_trial_row(path, row)
    assert append_trial_row(path, row | {"trial_id": "other"})
    written = pd.read_csv(path)
    assert list(written.columns) == list(TRIAL_COLUMNS) and len(written) == 2
    assert np.isclose(written["return_final"].iloc[0], row["return_final"])


def test_a_setting_without_finished_episodes_ranks_last_in_return():
    trials = fake_trials()
    trials.loc[trials["setting"].str.startswith("shield d_max=4"), "return_final"] = np.nan
    table = pareto_table(trials).set_index("setting")
    row = table.loc["shield d_max=4 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"]
    assert np.isnan(row["return_final_mean"]) and not row["on_front"]
    assert row["verdict"] == "undecided" and "d_max=2.5" in row["undecided_against"]


def test_a_resumed_trials_repeated_iterations_keep_the_last_attempt():
    first = [{"training_iteration": i, "x": "first"} for i in (1, 2, 3, 4)]
    resumed = [{"training_iteration": i, "x": "resumed"} for i in (3, 4, 5)]  # restored after iteration 2
    kept = latest_per_iteration(first + resumed)
    assert [r["training_iteration"] for r in kept] == [1, 2, 3, 4, 5]
    assert [r["x"] for r in kept] == ["first", "first", "resumed", "resumed", "resumed"]


def test_pareto_table_counts_the_seeds_that_learned():
    trials = fake_trials()
    trials.loc[trials["setting"] == "dqn", "return_final"] = [0.95, 0.0, LEARNED_RETURN]
    table = pareto_table(trials).set_index("setting")
    assert table.loc["dqn", "n_seeds_learned"] == 2  # the threshold itself counts as learned
    assert table.loc["priors rho=0.95 tau=0", "n_seeds_learned"] == 0
    assert (table["n_seeds_learned"] <= table["n_seeds"]).all()
    assert (table["agent"] == "paper").all()  # trials without a preset ran the paper's agent


def test_learned_table_counts_seeds_at_each_fraction_of_the_budget():
    rows = []
    for seed, learned_at in ((1, 100), (2, 300), (3, None)):
        for step in (100, 200, 300, 400):
            ret = 0.95 if learned_at is not None and step >= learned_at else 0.1
            rows.append(
                {"setting": "dqn", "seed": seed, "trial_id": f"t{seed}", "env_steps": step, "return_final": ret}
            )
    table = learned_table(pd.DataFrame(rows), fractions=(0.25, 0.5, 0.75, 1.0))
    assert list(table.columns) == list(LEARNED_COLUMNS)
    assert table["env_steps"].tolist() == [100, 200, 300, 400]
    assert table["n_seeds_learned"].tolist() == [1, 1, 2, 2]
    assert table["fraction_learned"].iloc[-1] == pytest.approx(2 / 3)


def test_short_labels_keep_only_what_tells_settings_apart():
    from sweeps.plot_style import short_labels

    paper = "shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"
    adaptive = " d_max_rule=adaptive adaptive_recall=0.9 adaptive_flag_rate=0.2"
    strict = paper.replace("d_max=2.5", "d_max=1")
    labels = short_labels([paper, strict, paper + adaptive, strict + adaptive, "dqn", "priors rho=0.95 tau=0"])
    assert list(labels.values()) == [
        "shield d_max=2.5",
        "shield d_max=1",
        "shield d_max=2.5 d_max_rule=adaptive",
        "shield d_max=1 d_max_rule=adaptive",
        "dqn",
        "priors rho=0.95",
    ]
    assert short_labels([paper, "dqn"])[paper] == "shield"


def test_hypervolume_counts_the_front_of_pareto_csv_even_with_an_undefined_seed():
    """A setting with one seed whose return is undefined (no episode ended) has the same
    mean, and so the same place on the front, in pareto.csv and hypervolume.csv."""
    trials = fake_trials()
    shield = trials.index[trials["setting"].str.contains("d_max=2.5")]
    trials.loc[shield[0], "return_final"] = np.nan  # 0.9 dropped: mean of 0.95 and 0.92
    trials.loc[trials["setting"] == "dqn", "violations_total"] = [80, 90, 100]  # dqn on the front too
    pareto = pareto_table(trials)
    hv = hypervolume_table(trials, pareto).iloc[0]
    assert hv["n_front"] == int(pareto["on_front"].sum()) >= 2
    row = pareto[pareto["setting"].str.contains("d_max=2.5")].iloc[0]
    assert row["return_final_mean"] == pytest.approx(0.935)
    front = pareto[pareto["on_front"]][["return_final_mean", "violations_total_mean"]].to_numpy()
    ref = (hv["reference_return"], hv["reference_violations"])
    assert hv["hypervolume"] == pytest.approx(hypervolume_2d(front, [1, -1], ref))


def test_published_name_adds_the_environment_when_it_is_not_the_default():
    from sweeps.report import published_name

    assert published_name({"agent": "nstep3", "env": "MiniGrid-LavaCrossingS9N1-v0"}) == "nstep3"
    assert published_name({"agent": "nstep3", "env": "MiniGrid-LavaCrossingS9N3-v0"}) == "nstep3-LavaCrossingS9N3"
    assert published_name({}) == "paper"


def test_every_swept_setting_has_a_meaning_for_the_sensitivity_axes():
    from shield.settings import ShieldParams
    from sweeps.sensitivity import PARAMETER_MEANINGS

    assert set(ShieldParams.names()) - {"mode"} <= set(PARAMETER_MEANINGS)

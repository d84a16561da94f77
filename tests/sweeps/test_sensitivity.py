"""sensitivity.csv and sensitivity.png (`sweeps.sensitivity`) on constructed trials. Ray-free."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pytest

from sweeps.intervals import VIOLATIONS_MIN_SEEDS
from sweeps.report import write_report
from sweeps.results import TRIAL_COLUMNS, trial_row
from sweeps.sensitivity import (
    SENSITIVITY_COLUMNS,
    STATE_METRICS,
    sensitivity_figure,
    sensitivity_table,
    swept_parameters,
    table_columns,
)
from tests.sweeps.test_plots import drawn_texts, overprinted
from tests.sweeps.test_results import documented_columns

THRESHOLDS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 2.5, 3.5]


def fake_trials(grid: dict[str, list], seeds=(1, 2, 3), baselines: bool = True, **fixed) -> pd.DataFrame:
    """trials.csv rows: dqn, priors rho=0.95 and one shield setting per point of `grid`
    (the other settings the paper's, or `fixed`), each on `seeds`, with made-up metrics
    that move with d_max, k and the seed."""
    settings = [{"mode": "dqn"}, {"mode": "priors"}] if baselines else []
    settings += [
        {"mode": "shield", **dict(zip(grid, point, strict=True))} for point in itertools.product(*grid.values())
    ]
    rows = []
    for spec, seed in itertools.product(settings, seeds):
        shield = {"rho": 0.95, "tau": 0.0, "d_max": 2.5, "margin": 10.0, "buffer_size": 100, "k": 10} | fixed | spec
        d, k = shield["d_max"], shield["k"]
        metrics = {
            "dqn": {"return_final": 0.9, "violations_total": 1000.0 + seed, "state_flag_rate": 0.0},
            "priors": {"return_final": 0.1, "violations_total": 40.0 + seed, "state_flag_rate": 0.95},
        }.get(
            spec["mode"],
            {
                "return_final": 0.95 - 0.1 * d + 0.01 * seed,
                "violations_total": 1000.0 / (1 + 10 * d) + 3 * seed + k,
                "state_flag_rate": min(1.0, d / 4) + 0.001 * seed,
                # undefined (no flagged step) on seed 1 at the smallest threshold
                "state_precision": np.nan if (d < 0.005 and seed == 1) else 0.9 - 0.2 * d + 0.01 * seed,
            },
        )
        config = {"shield_config": shield, "seed": seed, "env": "E", "env_config": {"obs": "symbolic"}}
        result = {
            "env_runners": {"shield": metrics, "num_env_steps_sampled_lifetime": 100_000},
            "time_total_s": 1.0,
        }
        rows.append(trial_row(f"t{len(rows)}", "TERMINATED", config, result))
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))


def test_documented_schema_matches_the_code():
    assert documented_columns("sensitivity.csv") == list(SENSITIVITY_COLUMNS)
    for trials in (fake_trials({"d_max": [1.0, 2.5]}), fake_trials({"buffer_size": [10, 100], "k": [1, 10]})):
        parameters = swept_parameters(trials)
        table = sensitivity_table(trials)
        assert list(table.columns) == table_columns(parameters)
        assert [c for c in table.columns if c not in parameters] == list(SENSITIVITY_COLUMNS)


def test_swept_parameters_are_the_shield_settings_that_vary():
    assert swept_parameters(fake_trials({"d_max": THRESHOLDS})) == ["d_max"]
    assert swept_parameters(fake_trials({"k": [1, 10], "buffer_size": [10, 50, 100]})) == ["buffer_size", "k"]
    margins = fake_trials({"margin": [2.0, 5.0, 10.0]}, d_max=0.8, d_max_rule="relative")
    assert swept_parameters(margins) == ["margin"]
    assert swept_parameters(fake_trials({"d_max": [2.5]})) == []


def test_unfinished_trials_take_no_part():
    trials = fake_trials({"d_max": [1.0, 2.5]})
    trials.loc[trials["setting"].str.contains("d_max=1 "), "status"] = "UNFINISHED"
    assert swept_parameters(trials) == []
    assert not sensitivity_table(trials)["setting"].str.contains("d_max=1 ").any()


def test_the_means_are_the_settings_means_over_seeds():
    trials = fake_trials({"d_max": THRESHOLDS})
    table = sensitivity_table(trials)
    assert set(table["metric"]) == {"return_final", "violations_total", *STATE_METRICS}
    for metric, rows in table.groupby("metric"):
        expected = trials.groupby("setting")[metric].mean()
        np.testing.assert_allclose(rows.set_index("setting")["mean"], expected.loc[rows["setting"]])
        counts = trials.groupby("setting")[metric].count()
        assert (rows.set_index("setting")["n_seeds"] == counts.loc[rows["setting"]]).all()
    # the undefined precision is left out of the mean, not counted as 0
    smallest = table[(table["metric"] == "state_precision") & (table["d_max"] == 0.003)].iloc[0]
    assert smallest["n_seeds"] == 2 and smallest["mean"] == pytest.approx(0.9 - 0.2 * 0.003 + 0.025)
    shield = table[(table["metric"] == "return_final") & (table["mode"] == "shield")]
    assert shield["d_max"].tolist() == THRESHOLDS  # in the parameter's order


def test_state_metrics_only_where_the_threshold_moves():
    buffers = sensitivity_table(fake_trials({"buffer_size": [10, 100], "k": [1, 10]}))
    assert list(dict.fromkeys(buffers["metric"])) == ["return_final", "violations_total"]
    margins = sensitivity_table(fake_trials({"margin": [2.0, 10.0]}, d_max=0.8, d_max_rule="relative"))
    assert set(STATE_METRICS) <= set(margins["metric"])


def test_no_interval_below_the_seeds_it_needs():
    few = sensitivity_table(fake_trials({"d_max": [1.0, 2.5]}, seeds=tuple(range(1, VIOLATIONS_MIN_SEEDS))))
    assert few["ci_low"].isna().all() and few["ci_high"].isna().all()
    assert few["ci_note"].str.startswith("none:").all()
    enough = sensitivity_table(fake_trials({"d_max": [1.0, 2.5]}, seeds=tuple(range(1, VIOLATIONS_MIN_SEEDS + 1))))
    enough = enough[enough["metric"] != "return_final"]  # a return interval needs more (test_intervals.py)
    spread = enough[enough["std"] > 0]
    assert len(spread) and (spread["ci_low"] < spread["mean"]).all() and (spread["mean"] < spread["ci_high"]).all()
    backed = enough["n_seeds"] >= VIOLATIONS_MIN_SEEDS  # dqn's state_precision: never defined
    assert (enough.loc[backed, "ci_note"] == "t 95%").all() and enough.loc[~backed, "ci_low"].isna().all()


def test_the_baselines_have_a_row_per_metric_and_no_parameter_values():
    table = sensitivity_table(fake_trials({"buffer_size": [10, 100], "k": [1, 10]}))
    baselines = table[table["mode"] != "shield"]
    assert set(zip(baselines["setting"], baselines["metric"], strict=True)) == {
        (setting, metric)
        for setting in ("dqn", "priors rho=0.95 tau=0")
        for metric in ("return_final", "violations_total")
    }
    assert baselines[["buffer_size", "k"]].isna().all().all()
    assert table.iloc[0]["setting"] == "dqn"  # by metric, then dqn, priors, shield


def test_a_study_that_sweeps_nothing_keeps_its_shield_rows_without_parameters():
    trials = fake_trials({"d_max": [2.5]})
    table = sensitivity_table(trials)
    assert list(table.columns) == list(SENSITIVITY_COLUMNS)
    assert set(table["mode"]) == {"dqn", "priors", "shield"}
    fig = sensitivity_figure(trials, "t")
    assert "no shield parameter was swept" in fig.get_suptitle().replace("\n", " ")
    assert overprinted(fig) == []


def test_the_plot_puts_a_wide_threshold_sweep_on_a_log_axis():
    trials = fake_trials({"d_max": THRESHOLDS})
    fig = sensitivity_figure(trials, "threshold (E, symbolic, quick)")
    axes = [ax for ax in fig.axes if ax.has_data()]
    assert len(axes) == 4  # return, violations and the state check's two
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert [ax.get_title().split(":")[0] for ax in axes] == [
        "return_final",
        "violations_total",
        "state_flag_rate",
        "state_precision",
    ]
    assert axes[1].get_yscale() == "symlog"  # violations from about 10 to 1000
    texts = [t.get_text() for t in drawn_texts(fig)[0]]
    assert "dqn" in texts and "priors rho=0.95" in texts  # the bands' names
    assert overprinted(fig) == []


def test_close_values_on_a_log_axis_keep_their_labels_on_a_second_row():
    """The main job's grid: 2.5 and 3.5 sit too close on a log axis for two labels side by
    side; both stay, one of them a row lower, and nothing is overprinted."""
    fig = sensitivity_figure(fake_trials({"d_max": [0.003, 2.5, 3.5]}, seeds=(1, 2)), "t")
    fig.savefig(io.BytesIO(), format="png")
    for ax in (ax for ax in fig.axes if ax.has_data()):
        ticks = [t for t in ax.xaxis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()]
        assert [t.label1.get_text() for t in ticks] == ["0.003", "2.5", "3.5"]
        assert len({round(t.label1.get_window_extent().y0) for t in ticks}) == 2  # two rows
    assert overprinted(fig) == []


def test_a_second_parameter_gets_a_line_per_value_and_a_narrow_sweep_a_linear_axis():
    fig = sensitivity_figure(fake_trials({"d_max": [1.0, 2.5], "k": [1, 10]}, seeds=(1, 2)), "t")
    axes = [ax for ax in fig.axes if ax.has_data()]
    assert all(ax.get_xscale() == "linear" for ax in axes)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "shield k=1" in legend and "shield k=10" in legend
    assert overprinted(fig) == []


def test_the_report_writes_the_table_and_the_plot(tmp_path):
    trials = fake_trials({"d_max": [1.0, 2.5]}, seeds=(1, 2))
    trials.to_csv(tmp_path / "trials.csv", index=False)  # a published folder: its trials.csv only
    paths = write_report(tmp_path)
    assert paths["sensitivity.png"].stat().st_size > 10_000
    written = pd.read_csv(paths["sensitivity.csv"])
    assert list(written.columns) == table_columns(["d_max"]) and len(written) == len(sensitivity_table(trials))

"""The plots' decisions (labels, log axis, the front's line, the paper comparison's rule), and
what a reader sees in the committed folders' plots: no text printed over another. Ray-free."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from sweeps.comparison_plot import comparison_figure
from sweeps.curves_plot import curves_figure
from sweeps.paper_figures import PAPER_ENV, PAPER_ENV_STEPS, comparability, paper_comparison
from sweeps.pareto_plot import crowded, front_points, named_settings, pareto_figure
from sweeps.plot_style import labels_of, log_axis, short_labels
from sweeps.report import read_published
from sweeps.results import TRIAL_COLUMNS, pareto_table

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = sorted(path.parent.relative_to(ROOT / "results").as_posix() for path in ROOT.glob("results/*/*/trials.csv"))
SHIELD = "shield d_max=2.5 margin=10 rho=0.95 buffer_size=100 k=10 tau=0"


def trials_of(rows: list[tuple[str, int, float, float]], env: str = PAPER_ENV, steps: float = 201_000) -> pd.DataFrame:
    """trials.csv rows from (setting, seed, return_final, violations_total)."""
    records = []
    for setting, seed, ret, violations in rows:
        mode, *values = setting.split()
        record = {"setting": setting, "mode": mode, "seed": seed, "return_final": ret, "violations_total": violations}
        for key, value in (token.split("=") for token in values):  # the label names each value
            record[key] = value if key == "d_max_rule" else float(value)
        records.append(record)
    frame = pd.DataFrame(records, columns=list(TRIAL_COLUMNS))
    return frame.assign(status="TERMINATED", agent="nstep3", env=env, env_steps=steps)


def drawn_texts(fig: Figure) -> tuple[list[Text], object]:
    """The texts a render of `fig` draws (not tick labels outside the view, say), and the renderer."""
    renderer = fig.canvas.get_renderer()
    drawn: dict[int, Text] = {}
    original = Text.draw

    def record(self: Text, renderer) -> None:
        if self.get_visible() and self.get_text().strip():
            drawn[id(self)] = self
        original(self, renderer)

    with mock.patch.object(Text, "draw", record):  # Annotation.draw calls Text.draw too
        fig.draw(renderer)
    return list(drawn.values()), renderer


def overprinted(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap by more than a pixel, and texts that leave the figure."""
    texts, renderer = drawn_texts(fig)
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # an Annotation's own adds its leader line
    shrunk = [b.padded(-1) for b in boxes]
    clashes = [
        (texts[i].get_text(), texts[j].get_text())
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
        if shrunk[i].overlaps(shrunk[j])
    ]
    width, height = fig.bbox.width, fig.bbox.height
    cut = [
        (t.get_text(), "outside the figure")
        for t, b in zip(texts, boxes, strict=True)
        if b.x0 < -1 or b.x1 > width + 1 or b.y0 < -1 or b.y1 > height + 1
    ]
    return clashes + cut


# --- labels by what varies ----------------------------------------------------------------


def test_short_labels_name_a_grid_by_the_settings_that_vary_in_it():
    grid = [SHIELD.replace("rho=0.95", f"rho={rho}").replace("k=10", f"k={k}") for rho in (0.5, 0.95) for k in (1, 10)]
    names = short_labels([*grid, "dqn", "priors rho=0.95 tau=0"])
    assert [names[s] for s in grid] == [
        "shield rho=0.5 k=1",
        "shield rho=0.5 k=10",
        "shield rho=0.95 k=1",
        "shield rho=0.95 k=10",
    ]
    assert names["priors rho=0.95 tau=0"] == "priors rho=0.95" and names["dqn"] == "dqn"


def test_every_plot_names_settings_by_what_varies():
    strict = SHIELD.replace("d_max=2.5", "d_max=1")
    rows = [(s, seed, 0.95, v + seed % 7) for s, v in (("dqn", 900), (SHIELD, 60), (strict, 90)) for seed in (1, 2, 3)]
    rows += [("priors rho=0.95 tau=0", seed, 0.0, 30.0) for seed in (1, 2, 3)]
    trials = trials_of(rows)
    curves = pd.concat([trials.assign(env_steps=step) for step in (1000, 2000)])
    comparison = paper_comparison(pareto_table(trials), trials)
    figures = [
        pareto_figure(pareto_table(trials), trials, "t"),
        curves_figure(curves, "return_final", "return", "t", "s"),
        curves_figure(curves, "violations_total", "violations", "t", "s"),
        comparison_figure(comparison, trials, "t"),
    ]
    for fig in figures:
        text = " ".join(t.get_text() for t in drawn_texts(fig)[0])
        assert "d_max=2.5" in text and "margin=" not in text and "tau=0" not in text
    assert "d_max=1" in " ".join(t.get_text() for t in drawn_texts(figures[0])[0])


# --- the log axis -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "violations, log",
    [
        ([31.5, 36.5, 238.5], False),  # 7.6×: the linear axis still separates them
        ([6, 31.5, 238.5], True),  # 40×
        ([10, 100], False),  # exactly 10× is not more than 10×
        ([10, 101], True),
        ([0, 5], False),  # counts below 1 count as 1: 0 to 5 is 5×
        ([0, 11], True),
        ([np.nan, 3, 300], True),  # undefined values are left out
        ([np.nan], False),
        ([], False),
    ],
)
def test_violations_get_a_log_axis_when_they_span_more_than_10x(violations, log):
    assert log_axis(violations) is log


def test_the_pareto_plot_follows_the_log_rule():
    def scale(violations: list[float]) -> str:
        rows = [(SHIELD.replace("2.5", str(i + 1)), 1, 0.9 - i / 10, v) for i, v in enumerate(violations)]
        trials = trials_of(rows)
        return pareto_figure(pareto_table(trials), trials, "t").axes[0].get_xscale()

    assert scale([30, 60, 200]) == "linear" and scale([5, 60, 200]) == "symlog"


# --- the front's line ---------------------------------------------------------------------


def test_the_front_line_goes_through_exactly_the_front_points_in_order():
    rows = [
        ("dqn", 1, 0.95, 900.0),
        ("priors rho=0.95 tau=0", 1, 0.0, 30.0),
        (SHIELD, 1, 0.9, 100.0),
        (SHIELD.replace("2.5", "4"), 1, 0.5, 100.0),  # dominated by d_max=2.5
        (SHIELD.replace("2.5", "1"), 1, 0.8, 60.0),
    ]
    trials = trials_of(rows)
    table = pareto_table(trials)
    front = table[table["on_front"]]
    assert len(front) == 4 and len(front) < len(table)
    expected = front.sort_values("violations_total_mean")[["violations_total_mean", "return_final_mean"]].to_numpy()
    np.testing.assert_array_equal(front_points(table)[["violations_total_mean", "return_final_mean"]], expected)
    fig = pareto_figure(table, trials, "t")
    (line,) = [line for line in fig.axes[0].get_lines() if line.get_gid() == "pareto-front"]
    np.testing.assert_array_equal(line.get_xydata(), expected)


def test_each_seed_is_drawn_beside_the_mean():
    rows = [(s, seed, 0.9 + seed / 100, 50.0 + seed) for s in ("dqn", SHIELD) for seed in (1, 2, 3, 4)]
    trials = trials_of(rows)
    fig = pareto_figure(pareto_table(trials), trials, "t")
    seeds = [line for line in fig.axes[0].get_lines() if line.get_alpha() and line.get_alpha() < 1]
    drawn = np.concatenate([line.get_xydata() for line in seeds])
    expected = trials[["violations_total", "return_final"]].to_numpy()
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, expected))


# --- labels placed apart --------------------------------------------------------------------


def labelled(fig: Figure) -> set[str]:
    """The names that head the drawn texts: a mean's label is its name over "k/n learned"."""
    return {t.get_text().split("\n")[0].split(",")[0] for t in drawn_texts(fig)[0]}


def named_means(table: pd.DataFrame, trials: pd.DataFrame) -> set[str]:
    """The short names of the means that pareto.png labels."""
    names = short_labels(labels_of(table, trials))
    drawn = table[np.isfinite(table["violations_total_mean"]) & np.isfinite(table["return_final_mean"])]
    return {names[s] for s in set(named_settings(table)) & set(drawn["setting"])}


def test_labels_of_coincident_means_are_all_drawn_apart():
    """Settings that behaved alike share a point; each still gets its own legible label."""
    rows = [(SHIELD.replace("k=10", f"k={k}"), seed, 0.9, 60.0) for k in range(1, 7) for seed in (1, 2)]
    rows += [("dqn", seed, 0.95, 900.0 + seed) for seed in (1, 2)]
    trials = trials_of(rows)
    table = pareto_table(trials)
    fig = pareto_figure(table, trials, "t")
    assert overprinted(fig) == []
    assert named_means(table, trials) <= labelled(fig) and len(named_means(table, trials)) == 7


def test_a_label_left_over_another_goes_beside_its_point_or_is_left_out():
    """Where adjustText cannot part labels (here: it does not run), each goes beside its own
    point on a free side; when no side is free, it is removed rather than printed over one."""
    for n, all_named in ((3, True), (12, False)):
        rows = [(SHIELD.replace("k=10", f"k={k}"), seed, 0.9, 60.0) for k in range(1, n + 1) for seed in (1, 2)]
        trials = trials_of(rows)
        table = pareto_table(trials)
        with mock.patch("sweeps.pareto_labels.adjust_text", return_value=([], [])):
            fig = pareto_figure(table, trials, "t")
        named = len(named_means(table, trials) & labelled(fig))
        assert overprinted(fig) == [] and (named == n) == all_named and named >= 1, n


def test_crowded_finds_the_largest_group_of_close_points():
    points = np.array([[0.0, 0.0], [10.0, 0.0], [25.0, 0.0], [500.0, 0.0], [520.0, 0.0]])
    assert crowded(points, radius=20) == [0, 1, 2]
    assert crowded(points[[0, 3]], radius=20) == []


@pytest.mark.parametrize("folder", PUBLISHED)
def test_no_text_is_overprinted_in_the_committed_plots(folder):
    """The committed folders' own data, drawn as the report draws it."""
    trials, curves, _ = read_published(ROOT / "results" / folder)
    table = pareto_table(trials)
    figures = {"pareto": pareto_figure(table, trials, f"{folder}: a title as long as a study's title is")}
    if not curves.empty:
        figures["curves"] = curves_figure(curves, "violations_total", "violations", folder, "what the plot shows")
    comparison = paper_comparison(table, trials)
    if comparison["comparable"].all():
        figures["comparison"] = comparison_figure(comparison, trials, folder)
    for name, fig in figures.items():
        assert overprinted(fig) == [], name
    assert named_means(table, trials) <= labelled(figures["pareto"])  # none left out to keep clear


# --- comparable with the paper --------------------------------------------------------------


def test_a_run_on_the_papers_env_at_its_200k_steps_is_comparable():
    trials = trials_of([("dqn", 1, 0.9, 500.0), (SHIELD, 1, 0.9, 60.0)], steps=PAPER_ENV_STEPS + 1_800)
    verdict = comparability(trials)
    assert verdict.comparable and PAPER_ENV in verdict.reason
    table = paper_comparison(pareto_table(trials), trials)
    assert table["comparable"].all() and list(table["setting"]) == ["dqn", SHIELD]


@pytest.mark.parametrize(
    "env, steps, why",
    [
        (PAPER_ENV, 100_400.0, "trials trained 100,400 env steps"),
        (PAPER_ENV, 1_200.0, "trials trained 1,200 env steps"),
        (PAPER_ENV, 260_000.0, "trials trained 260,000 env steps"),
        ("MiniGrid-LavaCrossingS11N5-v0", 201_000.0, "env MiniGrid-LavaCrossingS11N5-v0"),
    ],
)
def test_a_run_on_another_env_or_budget_is_not_comparable_and_says_why(env, steps, why):
    trials = trials_of([("dqn", 1, 0.9, 500.0), (SHIELD, 1, 0.9, 60.0)], env=env, steps=steps)
    verdict = comparability(trials)
    assert not verdict.comparable and why in verdict.reason
    table = paper_comparison(pareto_table(trials), trials)
    assert len(table) == 1 and not table["comparable"].iloc[0] and table["reason"].iloc[0] == verdict.reason
    assert table.drop(columns=["comparable", "reason"]).isna().all(axis=None)


def test_unfinished_trials_do_not_decide_comparability():
    trials = trials_of([("dqn", 1, 0.9, 500.0), ("dqn", 2, 0.9, 500.0)])
    trials.loc[1, ["status", "env_steps"]] = ["UNFINISHED", 50_000.0]  # still running
    assert comparability(trials).comparable
    trials["status"] = "UNFINISHED"
    assert comparability(trials) == comparability(trials.iloc[:0]) and not comparability(trials).comparable
    assert comparability(trials).reason == "no finished trial"


def test_a_comparable_run_without_the_papers_settings_says_so():
    trials = trials_of([(SHIELD.replace("2.5", "1"), 1, 0.9, 60.0)])
    table = paper_comparison(pareto_table(trials), trials)
    assert comparability(trials).comparable
    assert len(table) == 1 and not table["comparable"].iloc[0]
    assert table["reason"].iloc[0] == "none of the paper's settings finished"

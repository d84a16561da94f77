"""Rebuild a study's tables and plots from its run folder, or from a published folder.

A run folder is a Tune experiment directory of ShieldedDQN trials, finished or not: each
trial folder's ``params.json`` (config) and ``result.json`` (one JSON result per
iteration) are all it reads. A published folder (`publish`: the committed
results/reproduce/nstep3/, ...) has no trial folders; its trials.csv and curves.csv are
read instead. `write_report` writes, into the folder:

trials.csv, curves.csv, visitation.csv, pareto.csv, hypervolume.csv, paper_comparison.csv,
sensitivity.csv, pareto.png, curves_return.png, curves_violations.png, sensitivity.png,
visitation.png, and paper_comparison.png for runs comparable with the paper's
(`sweeps.paper_figures.comparability`; columns and plots documented in results/README.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from shield.envs import DEFAULT_ENV
from shield.settings import setting_label
from sweeps.attainment import write_attainment
from sweeps.comparison_plot import plot_paper_comparison
from sweeps.curves_plot import plot_curves
from sweeps.manifest import MANIFEST, read_manifest
from sweeps.paper_figures import paper_comparison
from sweeps.pareto_plot import named_settings, plot_pareto
from sweeps.plot_style import run_summary
from sweeps.results import (
    BEFORE,
    SETTING_COLUMNS,
    TRIAL_COLUMNS,
    hypervolume_table,
    pareto_table,
    trial_row,
)
from sweeps.search_storage import JOURNAL
from sweeps.sensitivity import write_sensitivity
from sweeps.visitation import VISIT_COLUMNS, visit_rows
from sweeps.visitation_plot import plot_visitation

CURVE_COLUMNS = ("setting", "seed", "trial_id", "env_steps", "return_final", "violations_total")
PUBLISHED = ("*.csv", "*.png", MANIFEST)


def latest_per_iteration(results: list[dict]) -> list[dict]:
    """One result per training iteration, the last one logged, in iteration order.

    A trial resumed from a checkpoint logs again the iterations after that checkpoint; its
    first attempt's rows for them are superseded.
    """
    by_iteration = {result.get("training_iteration", i): result for i, result in enumerate(results)}
    return [by_iteration[key] for key in sorted(by_iteration)]


def is_published(folder: Path) -> bool:
    """A published folder: no trial folders, and a trials.csv."""
    return not any(Path(folder).glob("*/params.json")) and (Path(folder) / "trials.csv").exists()


class RunTables(NamedTuple):
    """A study's per-trial tables."""

    trials: pd.DataFrame  # TRIAL_COLUMNS, one row per trial
    curves: pd.DataFrame  # CURVE_COLUMNS, one row per trial and iteration
    visits: pd.DataFrame  # VISIT_COLUMNS, one row per trial and visited cell


def read_trials(experiment_dir: Path) -> RunTables:
    """The tables of every trial folder under `experiment_dir`, or of a published folder."""
    experiment_dir = Path(experiment_dir)
    if is_published(experiment_dir):
        return read_published(experiment_dir)
    target = read_manifest(experiment_dir).get("iterations")
    rows, curve_rows, visit_table = [], [], []
    for params in sorted(experiment_dir.glob("*/params.json")):
        results_path = params.parent / "result.json"
        if not results_path.exists():
            continue
        results = latest_per_iteration(
            [json.loads(line) for line in results_path.read_text().splitlines() if line.strip()]
        )
        if not results:
            continue
        config = json.loads(params.read_text())
        last = results[-1]
        finished = bool(last.get("done")) or (target is not None and last.get("training_iteration", 0) >= target)
        row = trial_row(
            str(last.get("trial_id", params.parent.name)), "TERMINATED" if finished else "UNFINISHED", config, last
        )
        rows.append(row)
        visit_table += visit_rows(row["trial_id"], last)
        for result in results:
            step = trial_row(row["trial_id"], row["status"], config, result)
            curve_rows.append({k: step[k] for k in CURVE_COLUMNS})
    trials = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    curves = pd.DataFrame(curve_rows, columns=list(CURVE_COLUMNS))
    return RunTables(trials, curves, pd.DataFrame(visit_table, columns=list(VISIT_COLUMNS)))


def read_optional(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The CSV at `path`, or an empty table of `columns` when the folder has none."""
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(columns))


def read_published(folder: Path) -> RunTables:
    """The tables of a published folder: its trials.csv, and its curves.csv and
    visitation.csv (empty when the folder has none)."""
    trials = pd.read_csv(Path(folder) / "trials.csv")
    if "agent" not in trials.columns:  # published before agent presets: the paper's agent
        trials["agent"] = "paper"
    # other columns added since the folder was published are left empty
    trials = trials.reindex(columns=[*TRIAL_COLUMNS, *(c for c in trials.columns if c not in TRIAL_COLUMNS)])
    curves = read_optional(Path(folder) / "curves.csv", CURVE_COLUMNS)
    shield = trials["mode"] == "shield"
    for key, value in BEFORE.items():  # published before these settings existed: the paper's rules
        trials[key] = trials[key].astype(object)
        trials.loc[shield & trials[key].isna(), key] = value
    # labels are for display: made again from the values, as the defaults they omit may have moved
    settings = trials[list(SETTING_COLUMNS)].astype(object).where(trials[list(SETTING_COLUMNS)].notna(), None)
    rows = list(settings.itertuples(index=False, name=None))
    named = {row: setting_label(dict(zip(SETTING_COLUMNS, row, strict=True))) for row in set(rows)}  # once per setting
    trials["setting"] = [named[row] for row in rows]
    # each curve is labelled as its trial is in trials.csv
    labels = dict(zip(trials["trial_id"], trials["setting"], strict=True))
    curves["setting"] = curves["trial_id"].map(labels).fillna(curves["setting"])
    return RunTables(trials, curves, read_optional(Path(folder) / "visitation.csv", VISIT_COLUMNS))


def published_name(manifest: dict) -> str:
    """The agent preset ("nstep3"), followed by the environment when it is not the default
    ("nstep3-LavaCrossingS9N3"), so that runs on several environments do not overwrite each other."""
    agent = manifest.get("agent", "paper")
    env = manifest.get("env", DEFAULT_ENV)
    return agent if env == DEFAULT_ENV else f"{agent}-{env.removeprefix('MiniGrid-').removesuffix('-v0')}"


def publish(run_dir: Path, name: str | None = None) -> Path:
    """Copy a run's tables, plots and manifest beside the run folders, into
    ``<storage>/<study>/<name>/`` (default: `published_name`; the committed
    results/reproduce/nstep3/, results/threshold/quick/, ...); `write_report` rebuilds them
    there from the copied trials.csv and curves.csv."""
    target = Path(run_dir).parent / (name or published_name(read_manifest(run_dir)))
    target.mkdir(exist_ok=True)
    for pattern in PUBLISHED:
        for path in Path(run_dir).glob(pattern):
            shutil.copy2(path, target / path.name)
    return target


def default_title(folder: Path) -> str:
    """ "<study> (<env>, <obs>, <budget>)" from the folder's manifest; else its name."""
    manifest = read_manifest(folder)
    if "study" not in manifest:
        return Path(folder).name
    budget = manifest.get("budget", {}).get("name", "")
    return f"{manifest['study']} ({manifest.get('env')}, {manifest.get('obs')}, {budget})"


def write_input(frame: pd.DataFrame, path: Path, published: bool) -> None:
    """Write trials.csv or curves.csv, unless `path` is a published folder's, read into
    `frame` unchanged (same columns, rows in the same order): at 10^5 trials, rewriting what
    was just read would take longer than the whole report."""
    same = path.exists() and list(pd.read_csv(path, nrows=0).columns) == list(frame.columns)
    if not (published and same and frame.index.equals(pd.RangeIndex(len(frame)))):
        frame.to_csv(path, index=False)


def write_report(experiment_dir: Path, title: str | None = None) -> dict[str, Path]:
    """Write every table and plot of the study into `experiment_dir`; return their paths.

    paper_comparison.png is drawn only for a run comparable with the paper's; otherwise
    paper_comparison.csv says why not, and a figure left by an earlier report is removed.
    """
    experiment_dir = Path(experiment_dir)
    published = is_published(experiment_dir)
    trials, curves, visits = read_trials(experiment_dir)
    title = title or default_title(experiment_dir)
    names = ("trials.csv", "curves.csv", "pareto.csv", "hypervolume.csv", "paper_comparison.csv")
    paths = {name: experiment_dir / name for name in names}
    write_input(trials.sort_values(["setting", "seed"]), paths["trials.csv"], published)
    write_input(curves, paths["curves.csv"], published)
    if not visits.empty:
        paths["visitation.csv"] = experiment_dir / "visitation.csv"
        write_input(visits, paths["visitation.csv"], published)
    table = pareto_table(trials)
    table.to_csv(paths["pareto.csv"], index=False)
    hypervolume_table(trials, table).to_csv(paths["hypervolume.csv"], index=False)
    comparison = paper_comparison(table, trials)
    comparison.to_csv(paths["paper_comparison.csv"], index=False)
    figure = experiment_dir / "paper_comparison.png"
    if comparison["comparable"].all():
        paths["paper_comparison.png"] = figure
        plot_paper_comparison(comparison, trials, figure, title)
    else:
        figure.unlink(missing_ok=True)  # an earlier report's would contradict the table
    if not table.empty:
        paths["pareto.png"] = experiment_dir / "pareto.png"
        plot_pareto(table, trials, paths["pareto.png"], title)
    if not curves.empty:
        named = named_settings(table)  # every setting, unless there are too many to tell apart
        subset = None if len(named) == len(table) else named
        shown = "per setting" if subset is None else f"of {len(named)} of the {len(table)} settings"
        for column, name, ylabel, what in (
            ("return_final", "curves_return.png", "return_final: mean of the last 100 episodes", "learning curves"),
            (
                "violations_total",
                "curves_violations.png",
                "violations_total: lava deaths so far",
                "cumulative violations",
            ),
        ):
            paths[name] = experiment_dir / name
            subtitle = f"{run_summary(trials)}: {what} {shown}"
            plot_curves(curves, column, ylabel, paths[name], title, subtitle, subset)

    # where the agent went, per setting, on one layout (sweeps.visitation_plot)
    if not visits.empty and plot_visitation(trials, visits, experiment_dir / "visitation.png", title):
        paths["visitation.png"] = experiment_dir / "visitation.png"

    # each seed's front and the attainment surfaces across seeds (sweeps.attainment)
    paths |= write_attainment(experiment_dir, trials, title)

    # the outcomes against the swept shield parameters, when some trial finished (sweeps.sensitivity)
    paths |= write_sensitivity(experiment_dir, trials, title)

    if (experiment_dir / JOURNAL).exists():  # a search's first phase: Optuna's own plots too
        from sweeps.search_storage import write_study_plots

        paths |= {path.name: path for path in write_study_plots(experiment_dir)}
    return paths

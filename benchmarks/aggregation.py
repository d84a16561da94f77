"""Wall time of a study's report at 10^5 trials, stage by stage (target: under 5 s in all).

Two synthetic studies, written as published folders (trials.csv and curves.csv with the
real columns, `sweeps.results.TRIAL_COLUMNS` and `sweeps.report.CURVE_COLUMNS`):

- `grid`: 50 settings (dqn, priors and 48 shield settings) × 2,000 seeds each;
- `optuna`: 10^5 shield settings drawn from `sweeps.pareto_search.SPACE`, one seed each,
  as the search's first phase proposes them.

Every trial trains 200K steps on the paper's environment (so the paper comparison is drawn
too) and reports `--iterations` times (curves.csv: that many rows per trial). The report
is the product's own: `sweeps.report.write_report` on the folder, as ``shieldsweep
report`` runs it; each of its stages is timed where write_report calls it, and "csv
writes" is the rest (trials.csv, curves.csv, pareto.csv, ... to disk). The fastest of
`--repeats` reports is shown (other processes share the machine).

    python benchmarks/aggregation.py                          # both studies, 10^5 trials
    python benchmarks/aggregation.py --scenario optuna --trials 3000
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from shield.envs import DEFAULT_ENV
from shield.settings import PAPER_SHIELD, setting_label
from sweeps import plots, report
from sweeps.budgets import seeds_for
from sweeps.pareto_search import MARGINS, SPACE
from sweeps.report import CURVE_COLUMNS
from sweeps.results import SETTING_COLUMNS, TRIAL_COLUMNS

SCENARIOS = ("grid", "optuna")
GRID_SETTINGS = 50
ENV_STEPS = 200_000  # per trial: the paper's, so that the report draws its comparison
TARGET_S = 5.0
# write_report's stages, by the name it calls them under in sweeps.report
STAGES = (
    "read_trials",
    "pareto_table",
    "hypervolume_table",
    "paper_comparison",
    "plot_paper_comparison",
    "plot_pareto",
    "plot_curves",
    "write_attainment",
)


def grid_settings() -> list[dict]:
    """dqn, priors and 48 shield settings (d_max × rho × buffer_size), as a grid study's."""
    settings = [{"mode": "dqn"}, {"mode": "priors", "rho": PAPER_SHIELD.rho, "tau": PAPER_SHIELD.tau}]
    for d_max in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0):
        for rho in (0.5, 0.8, 0.95):
            for buffer_size in (50, 100):
                settings.append(PAPER_SHIELD.to_dict() | {"d_max": d_max, "rho": rho, "buffer_size": buffer_size})
    return settings


def searched_settings(n: int, rng: np.random.Generator) -> list[dict]:
    """`n` shield settings drawn uniformly from the search's space, as Optuna's first ones are."""
    d_max = rng.uniform(*SPACE["d_max"], size=n)
    rho = rng.uniform(*SPACE["rho"], size=n)
    buffer_size = rng.choice(SPACE["buffer_size"], size=n)
    margin = rng.choice(MARGINS, size=n)
    base = PAPER_SHIELD.to_dict()
    return [
        base | {"d_max": float(d), "rho": float(r), "buffer_size": int(b), "margin": float(m)}
        for d, r, b, m in zip(d_max, rho, buffer_size, margin, strict=True)
    ]


def outcome_model(setting: dict) -> tuple[float, float]:
    """(probability that a seed learns, typical lava deaths) of a setting: dqn learns and dies
    most, priors never learns and rarely dies, the shield in between by d_max and rho."""
    if setting["mode"] == "dqn":
        return 0.9, 240.0
    if setting["mode"] == "priors":
        return 0.0, 6.0
    guard = setting["rho"] * min(setting["d_max"], 3.0) / 3.0  # 0 (no shield) .. 1 (strict)
    return 0.95 - 0.5 * max(guard - 0.7, 0.0), 240.0 * (1.0 - 0.87 * guard) * (100.0 / setting["buffer_size"]) ** 0.1


def synthetic_study(scenario: str, n_trials: int, iterations: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials [n_trials, TRIAL_COLUMNS], curves [n_trials × iterations, CURVE_COLUMNS]) of a
    `scenario` study: plausible values (returns in [0, 0.96], bimodal by whether a seed
    learned; violation counts), about 1% of trials unfinished and 0.1% without a finished
    episode (return_final empty)."""
    rng = np.random.default_rng(seed)
    if scenario == "grid":
        settings = grid_settings()
        seeds = np.array(seeds_for(-(-n_trials // len(settings))))
        which = np.repeat(np.arange(len(settings)), len(seeds))[:n_trials]
        trial_seeds = np.tile(seeds, len(settings))[:n_trials]
    else:
        settings = searched_settings(n_trials, rng)
        which, trial_seeds = np.arange(n_trials), np.full(n_trials, seeds_for(1)[0])
    learn_p, deaths = np.array([outcome_model(s) for s in settings]).T
    learned = rng.random(n_trials) < learn_p[which]
    return_final = np.where(learned, rng.uniform(0.90, 0.96, n_trials), rng.uniform(0.0, 0.3, n_trials) ** 2)
    return_final[rng.random(n_trials) < 0.001] = np.nan
    violations = np.round(deaths[which] * rng.lognormal(0.0, 0.35, n_trials))
    columns = {name: [s.get(name) for s in settings] for name in SETTING_COLUMNS}
    labels = np.array([setting_label(s) for s in settings], dtype=object)
    trials = pd.DataFrame(
        {
            "trial_id": [f"{seed:05x}_{i:05d}" for i in range(n_trials)],
            "status": np.where(rng.random(n_trials) < 0.01, "UNFINISHED", "TERMINATED"),
            "agent": "nstep3",
            "setting": labels[which],
            **{name: np.asarray(values, dtype=object)[which] for name, values in columns.items()},
            "seed": trial_seeds,
            "env": DEFAULT_ENV,
            "obs": "symbolic",
            "violations_total": violations,
            "return_final": return_final,
            "return_auc": return_final * rng.uniform(0.6, 0.85, n_trials),
            "return_eval": np.where(learned, 0.96, 0.0),
            "interventions_total": np.round(violations * rng.uniform(2, 20, n_trials)),
            "state_flag_rate": rng.uniform(0.0, 0.3, n_trials),
            "state_precision": rng.uniform(0.1, 0.6, n_trials),
            "state_recall": rng.uniform(0.5, 1.0, n_trials),
            "action_precision": rng.uniform(0.3, 0.9, n_trials),
            "action_recall": rng.uniform(0.5, 1.0, n_trials),
            "distance_q10": rng.uniform(0.5, 2.0, n_trials),
            "distance_q50": rng.uniform(2.0, 4.0, n_trials),
            "distance_q90": rng.uniform(4.0, 8.0, n_trials),
            "d_max_effective": np.array([s.get("d_max") or PAPER_SHIELD.d_max for s in settings])[which],
            "env_steps": ENV_STEPS + rng.integers(0, 500, n_trials).astype(float),
            "wall_s": rng.uniform(150.0, 250.0, n_trials),
        },
        columns=list(TRIAL_COLUMNS),
    )
    # each trial's reports: steps in equal parts, violations accumulating, the return rising
    # to its last value once the seed learns (or staying near 0)
    fraction = np.tile(np.arange(1, iterations + 1) / iterations, n_trials)
    row = np.repeat(np.arange(n_trials), iterations)
    rising = np.clip((fraction - 0.5) * 3.0, 0.0, 1.0)
    curves = pd.DataFrame(
        {
            "setting": trials["setting"].to_numpy()[row],
            "seed": trial_seeds[row],
            "trial_id": trials["trial_id"].to_numpy()[row],
            "env_steps": np.round(trials["env_steps"].to_numpy()[row] * fraction),
            "return_final": return_final[row] * np.where(learned[row], rising, 1.0),
            "violations_total": np.round(violations[row] * fraction**0.7),
        },
        columns=list(CURVE_COLUMNS),
    )
    return trials, curves


def write_published(folder: Path, trials: pd.DataFrame, curves: pd.DataFrame) -> Path:
    """`folder` as a published study folder: trials.csv (sorted, as the report writes it)
    and curves.csv, no trial folders."""
    folder.mkdir(parents=True, exist_ok=True)
    trials.sort_values(["setting", "seed"]).to_csv(folder / "trials.csv", index=False)
    curves.to_csv(folder / "curves.csv", index=False)
    return folder


@contextlib.contextmanager
def timed_stages() -> Iterator[dict[str, float]]:
    """{stage: seconds} filled while write_report runs, each stage timed where it is called."""
    seconds = dict.fromkeys(STAGES, 0.0)

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started

        return wrapper

    with contextlib.ExitStack() as stack:
        for name in STAGES:
            stack.enter_context(mock.patch.object(report, name, timed(name, getattr(report, name))))
        yield seconds


def measure(folder: Path) -> tuple[dict[str, float], str | None]:
    """({stage: seconds, "csv writes": the rest, "total": write_report's wall time}, the
    error that stopped the report or None) of one report, as a fresh process would run it."""
    error = None
    if hasattr(plots, "cached_short_labels"):  # an earlier report's names would be free
        plots.cached_short_labels.cache_clear()
    with timed_stages() as seconds:
        started = time.perf_counter()
        try:
            report.write_report(folder, title=folder.name)
        except Exception as err:  # the stages before it still tell where the time went
            error = f"{type(err).__name__}: {err}"
        total = time.perf_counter() - started
    return {**seconds, "csv writes": total - sum(seconds.values()), "total": total}, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=SCENARIOS, nargs="+", default=list(SCENARIOS))
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=10, help="reports per trial (curves.csv rows per trial)")
    parser.add_argument("--repeats", type=int, default=3, help="reports per study; the fastest is shown")
    parser.add_argument("--keep", type=Path, help="write the folders here (default: a temporary folder, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aggregation-") as scratch:
        root = args.keep or Path(scratch)
        for scenario in args.scenario:
            trials, curves = synthetic_study(scenario, args.trials, args.iterations)
            folder = write_published(root / scenario, trials, curves)
            print(
                f"{scenario}: {len(trials):,} trials, {trials['setting'].nunique():,} settings, "
                f"{len(curves):,} curve rows",
                flush=True,
            )
            runs = [measure(folder) for _ in range(args.repeats)]
            seconds, error = min(runs, key=lambda run: run[0]["total"])  # the least disturbed
            for stage, value in seconds.items():
                print(f"  {stage:22s} {value:8.2f} s")
            if error:
                print(f"  the report failed: {error}")
            verdict = "meets" if seconds["total"] < TARGET_S and not error else "misses"
            print(f"  {scenario}: {seconds['total']:.2f} s in all, {verdict} the {TARGET_S:g} s target", flush=True)


if __name__ == "__main__":
    main()

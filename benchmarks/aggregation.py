"""Wall time of a study's report at 10^5 trials, stage by stage (target: under 5 s in all).

Two synthetic studies (`sweeps.synthetic_studies`), written as published folders
(trials.csv and curves.csv with the real columns, `sweeps.results.TRIAL_COLUMNS` and
`sweeps.report.CURVE_COLUMNS`):

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

from sweeps import plot_style, report
from sweeps.synthetic_studies import SCENARIOS, synthetic_study, write_published

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
    "plot_visitation",
    "write_attainment",
)


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
        for name in (name for name in STAGES if hasattr(report, name)):  # an older tree may lack one
            stack.enter_context(mock.patch.object(report, name, timed(name, getattr(report, name))))
        yield seconds


def measure(folder: Path) -> tuple[dict[str, float], str | None]:
    """({stage: seconds, "csv writes": the rest, "total": write_report's wall time}, the
    error that stopped the report or None) of one report, as a fresh process would run it."""
    error = None
    if hasattr(plot_style, "cached_short_labels"):  # an earlier report's names would be free
        plot_style.cached_short_labels.cache_clear()
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

"""Runs a study from its command line: validate into a `Plan`, then run it.

Study scripts end with ``raise SystemExit(run_study(STUDY))``; `shieldsweep <study>` calls
`run_plan` with the same arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sweeps.plan import Study, make_plan, parse_args
from sweeps.preflight import check_plan


def run_plan(study: Study, args: argparse.Namespace) -> int:
    """Validate the arguments (exit code 2 with the reason), then run the study."""
    try:
        plan = make_plan(study, args)
        check_plan(plan)  # before Ray starts: a multi-hour pretraining is refused, saying what else to pick
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if study.run is not None:
        return study.run(plan)
    from sweeps.runner import run_grid, run_rounds  # import Ray: only once the inputs are checked

    return run_rounds(plan) if plan.first_round is not None else run_grid(plan)


def run_study(study: Study, argv: Sequence[str] | None = None) -> int:
    """Run `study` from the command line (a study script's main); return the exit code."""
    return run_plan(study, parse_args(study, argv))

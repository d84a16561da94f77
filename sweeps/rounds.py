"""Seeds until decided (`--seeds auto`): which settings get another seed after a round.

A study with ``--seeds auto`` runs in rounds, as racing does in algorithm configuration
(F-race, irace): every setting starts on the same seeds; after each round, the settings
still ``undecided`` in pareto.csv, and the settings they are undecided against (a paired
test needs both on the new seed), get the next seed of the budget's seed order, until
none is undecided or they reach the cap (`--max-seeds`). Settings already on the front
with nobody undecided against them, or dominated with confidence, stop. Pure pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def wanted(table: pd.DataFrame) -> set[str]:
    """The settings of `table` (pareto.csv rows) that another seed could decide: the
    undecided ones and those they are undecided against."""
    undecided = table[(table["verdict"] == "undecided") & (table["undecided_against"].fillna("") != "")]
    # (a table too large to compare pairwise names no one: more seeds would decide nothing)
    against = {name for names in undecided["undecided_against"] for name in names.split("; ") if name}
    return set(undecided["setting"]) | against


def next_seeds(table: pd.DataFrame, ran: dict[str, Sequence[int]], order: Sequence[int], most: int) -> dict[str, int]:
    """{setting: the seed it runs next} after a round whose pareto.csv is `table`.

    ran: each setting's seeds so far; order: the budget's seed order, up to the cap `most`.
    A setting's next seed is the first of `order` it has not run, so settings that ran
    the same number of seeds share them all. Empty when the study is decided, or every
    setting that could still be decided has reached `most` seeds.
    """
    out = {}
    for setting in sorted(wanted(table)):
        done = set(ran.get(setting, ()))
        if len(done) >= most:
            continue
        missing = [seed for seed in order[:most] if seed not in done]
        if missing:
            out[setting] = missing[0]
    return out


def round_record(number: int, table: pd.DataFrame, ran: dict[str, Sequence[int]], new_trials: int) -> dict:
    """The manifest's entry for a finished round: its trials, each setting's seeds and verdict."""
    return {
        "round": number,
        "trials": sum(len(seeds) for seeds in ran.values()),
        "new_trials": new_trials,
        "seeds": {setting: list(seeds) for setting, seeds in sorted(ran.items())},
        "verdicts": dict(zip(table["setting"], table["verdict"], strict=True)),
    }

"""Which settings get another seed after a round of a --seeds auto study (no Ray)."""

from __future__ import annotations

import pandas as pd

from sweeps.rounds import next_seeds, round_record, wanted

ORDER = [123, 789, 456, 1000, 1001]


def table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["setting", "verdict", "undecided_against"])


def test_the_undecided_and_what_they_are_undecided_against_get_the_next_seed():
    t = table([("a", "front", ""), ("b", "undecided", "a"), ("c", "dominated", ""), ("d", "front", "")])
    ran = {name: ORDER[:3] for name in "abcd"}
    assert wanted(t) == {"a", "b"}
    assert next_seeds(t, ran, ORDER, most=5) == {"a": 1000, "b": 1000}


def test_a_decided_study_stops():
    t = table([("a", "front", ""), ("c", "dominated", "")])
    assert next_seeds(t, {"a": ORDER[:3], "c": ORDER[:3]}, ORDER, most=5) == {}


def test_settings_at_the_cap_stop_and_the_others_catch_up_on_the_same_seeds():
    t = table([("a", "front", ""), ("b", "undecided", "a; e"), ("e", "front", "")])
    ran = {"a": ORDER[:4], "b": ORDER[:3], "e": ORDER[:4]}
    assert next_seeds(t, ran, ORDER, most=4) == {"b": 1000}  # the seed a and e already ran
    assert next_seeds(t, {**ran, "b": ORDER[:4]}, ORDER, most=4) == {}


def test_a_round_record_lists_seeds_and_verdicts():
    t = table([("a", "front", ""), ("b", "undecided", "a")])
    record = round_record(2, t, {"a": ORDER[:4], "b": ORDER[:4]}, new_trials=2)
    assert record["trials"] == 8 and record["new_trials"] == 2
    assert record["verdicts"] == {"a": "front", "b": "undecided"} and record["seeds"]["a"] == ORDER[:4]

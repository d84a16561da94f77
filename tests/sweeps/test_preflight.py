from __future__ import annotations

import pytest

from rllib_algos.pretrain_budgets import pretrain_jobs, prior_spec
from shield.artifacts import ArtifactStore
from sweeps.plan import make_plan, parse_args
from sweeps.preflight import (
    PretrainingTooLongError,
    WarmUp,
    check_plan,
    check_pretraining,
    estimate_seconds,
    warm_up,
)
from sweeps.threshold import STUDY

# rates of the order this 2-core VM measures (s per unit)
PIXELS = WarmUp("pixels", env_step_s=2e-4, q_update_s=0.2, encoder_update_s=1.2, distill_update_s=0.15, measured_s=5)
SYMBOLIC = WarmUp(
    "symbolic", env_step_s=5e-5, q_update_s=0.01, encoder_update_s=0.02, distill_update_s=0.01, measured_s=1
)


def fake_measure(obs: str) -> WarmUp:
    return {"pixels": PIXELS, "symbolic": SYMBOLIC}[obs]


def test_the_jobs_follow_the_route_and_skip_what_is_ready(tmp_path):
    empty = ArtifactStore(tmp_path).is_ready
    paper = pretrain_jobs("pixels", "paper", (10.0,), empty)
    assert [j.spec.kind for j in paper] == ["source_q"] * 4 + ["prior_q", "encoder"]
    assert all(j.spec.obs == "pixels" for j in paper)
    distilled = pretrain_jobs("pixels", "quick", (10.0,), empty)
    kinds = [(j.spec.kind, j.spec.obs, j.stage) for j in distilled]
    assert kinds[:4] == [("source_q", "symbolic", 0)] * 4
    assert kinds[4:] == [("prior_q", "symbolic", 1), ("prior_q", "pixels", 2), ("encoder", "pixels", 0)]
    teacher = prior_spec("symbolic", "quick").key
    with_teacher = pretrain_jobs("pixels", "quick", (10.0,), lambda spec: spec.key == teacher)
    assert [(j.spec.kind, j.spec.obs) for j in with_teacher] == [("prior_q", "pixels"), ("encoder", "pixels")]


def test_the_estimate_runs_stages_in_turn_and_spreads_a_stage_over_the_cpus(tmp_path):
    jobs = pretrain_jobs("pixels", "paper", (10.0,), ArtifactStore(tmp_path).is_ready)
    source = 200_000 * 2e-4 + 20_000 * 0.2
    encoder = 200_000 * 2e-4 + 20_000 * 1.2
    prior = 250_000 * 2e-4 + 25_000 * 0.2
    rates = {"pixels": PIXELS}
    assert estimate_seconds(jobs, rates, cpus=2) == pytest.approx(max(encoder, (4 * source + encoder) / 2) + prior)
    assert estimate_seconds(jobs, rates, cpus=64) == pytest.approx(encoder + prior)


def test_the_refusal_says_how_long_and_what_to_pick(tmp_path):
    jobs = pretrain_jobs("pixels", "paper", (10.0,), ArtifactStore(tmp_path).is_ready)
    with pytest.raises(PretrainingTooLongError) as refused:
        cheaper = ["--pretrain-budget quick (about 9 min)"]
        check_pretraining(jobs, cpus=2, limit_minutes=60, cheaper=cheaper, measure=fake_measure)
    text = str(refused.value)
    assert "would take about 8.1 h on this machine" in text
    assert "more than --max-pretrain-minutes 60" in text and "6 artifact(s) on 2 CPU(s)" in text
    assert "pixels: 0.20 ms per env step, 0.20 s per DQN update, 1.20 s per encoder update" in text
    assert all(job.spec.key in text for job in jobs)
    assert "to start sooner: --pretrain-budget quick (about 9 min)" in text
    assert "or pass --max-pretrain-minutes 485 to build them here" in text
    printed = []
    assert check_pretraining(jobs, 2, 600, measure=fake_measure, progress=printed.append) > 0
    assert printed == ["pretraining 6 missing artifact(s) first: about 8.1 h on 2 CPU(s)"]
    assert check_pretraining([], 2, 1, measure=fake_measure) == 0


def test_a_paper_pixel_study_without_its_artifacts_is_refused_naming_the_cheaper_paths(tmp_path):
    args = parse_args(
        STUDY, ["--obs", "pixels", "--artifacts", "paper", "--artifact-dir", str(tmp_path), "--storage", str(tmp_path)]
    )
    plan = make_plan(STUDY, args)
    with pytest.raises(PretrainingTooLongError) as refused:
        check_plan(plan, measure=fake_measure, cpus=2)
    text = str(refused.value)
    assert "to start sooner: --pretrain-budget quick (about" in text
    assert "--prior-route distilled (about" in text and "--obs symbolic (about" in text


def test_the_warm_up_measures_every_kind_of_work():
    rates = warm_up("symbolic", env_steps=20, updates=1)
    assert rates.obs == "symbolic"
    assert min(rates.env_step_s, rates.q_update_s, rates.encoder_update_s, rates.distill_update_s) > 0
    assert rates.measured_s >= rates.q_update_s

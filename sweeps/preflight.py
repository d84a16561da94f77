"""Before a study starts: how long pretraining its missing artifacts will take here.

A study whose artifacts are missing builds them first (`rllib_algos.pretrain`). On pixels
at the paper budget that is four pixel source DQNs, a pixel Q_p and an encoder: hours on a
CPU. `check_pretraining` times a few seconds of the work those jobs repeat (environment
steps, DQN updates, auto-encoder updates) on this machine, scales it to the jobs' counts,
and refuses, saying what to pick instead, when the estimate passes the study's limit
(``--max-pretrain-minutes``).

The estimate is a lower bound: it leaves out evaluation, Ray's start and the pseudo-reward's
source networks, and assumes the jobs of one stage share the CPUs perfectly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rllib_algos.pretrain_budgets import (
    DEFAULT_ENCODER,
    DEFAULT_LAVA_BOOTSTRAP,
    EncoderSetting,
    PretrainJob,
    pretrain_jobs,
)
from shield.artifacts import ArtifactStore
from shield.envs import DEFAULT_ENV, make_env
from shield.networks import AutoEncoder, QNetwork
from sweeps.plan import Plan

BATCH = 128


@dataclass(frozen=True)
class WarmUp:
    """Seconds per unit of pretraining work on one CPU thread, for one observation kind."""

    obs: str
    env_step_s: float
    q_update_s: float  # a double-DQN update: online and target networks, batch 128
    encoder_update_s: float  # an auto-encoder update, batch 128
    distill_update_s: float  # a regression update of a Q-network, batch 128
    measured_s: float  # how long the warm-up took


def _timed(step: Callable[[], object], repeats: int) -> float:
    step()  # the first call allocates
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def warm_up(obs: str, env_steps: int = 300, updates: int = 3) -> WarmUp:
    """Time `env_steps` random steps and `updates` of each kind of update, on one thread
    (as the pretraining jobs run)."""
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = make_env(DEFAULT_ENV, obs=obs)
        env.reset(seed=0)
        rng = np.random.default_rng(0)

        def env_step() -> None:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
            if terminated or truncated:
                env.reset()

        sample = env.observation_space.sample
        batch = torch.as_tensor(np.stack([sample() for _ in range(BATCH)]))
        online, target = QNetwork(obs), QNetwork(obs)
        q_optimiser = torch.optim.Adam(online.parameters())

        def q_update() -> None:
            with torch.no_grad():
                best = online(batch).argmax(1, keepdim=True)
                bootstrap = target(batch).gather(1, best)
            loss = (online(batch)[:, :1] - bootstrap).pow(2).mean()
            q_optimiser.zero_grad()
            loss.backward()
            q_optimiser.step()

        def distill_update() -> None:
            loss = online(batch).pow(2).mean()
            q_optimiser.zero_grad()
            loss.backward()
            q_optimiser.step()

        model = AutoEncoder(obs)
        ae_optimiser = torch.optim.Adam(model.parameters())

        def encoder_update() -> None:
            z, reconstruction = model(batch)
            loss = reconstruction.pow(2).mean() + z.pow(2).mean()
            ae_optimiser.zero_grad()
            loss.backward()
            ae_optimiser.step()

        return WarmUp(
            obs,
            env_step_s=_timed(env_step, env_steps),
            q_update_s=_timed(q_update, updates),
            encoder_update_s=_timed(encoder_update, updates),
            distill_update_s=_timed(distill_update, updates),
            measured_s=time.perf_counter() - start,
        )
    finally:
        torch.set_num_threads(threads)


def job_seconds(job: PretrainJob, rates: WarmUp) -> float:
    """The work of `job` at `rates` (its own observation kind's)."""
    return (
        job.env_steps * rates.env_step_s
        + job.q_updates * rates.q_update_s
        + job.encoder_updates * rates.encoder_update_s
        + job.distill_updates * rates.distill_update_s
    )


def estimate_seconds(jobs: Sequence[PretrainJob], rates: dict[str, WarmUp], cpus: int) -> float:
    """Wall seconds of `jobs`: stage after stage, each stage's jobs spread over `cpus` (no
    less than its longest job)."""
    total = 0.0
    for stage in sorted({job.stage for job in jobs}):
        seconds = [job_seconds(job, rates[job.spec.obs]) for job in jobs if job.stage == stage]
        total += max(max(seconds), sum(seconds) / max(1, cpus))
    return total


def duration(seconds: float) -> str:
    """ "45 s", "12 min", "3.4 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _rates_line(rates: WarmUp) -> str:
    return (
        f"{rates.obs}: {rates.env_step_s * 1e3:.2f} ms per env step, {rates.q_update_s:.2f} s per DQN update, "
        f"{rates.encoder_update_s:.2f} s per encoder update"
    )


def refusal(
    jobs: Sequence[PretrainJob], rates: dict[str, WarmUp], cpus: int, limit_minutes: float, cheaper: Sequence[str]
) -> str:
    """The error a study stops with when pretraining `jobs` would pass `limit_minutes`."""
    estimate = estimate_seconds(jobs, rates, cpus)
    warmed = sum(r.measured_s for r in rates.values())
    lines = [
        f"pretraining the missing artifacts would take about {duration(estimate)} on this machine before the first "
        f"trial starts, more than --max-pretrain-minutes {limit_minutes:g}: {len(jobs)} artifact(s) on {cpus} "
        f"CPU(s), estimated from a {warmed:.0f} s warm-up ({'; '.join(_rates_line(r) for r in rates.values())})",
        *(f"  {job.spec.key}: {duration(job_seconds(job, rates[job.spec.obs]))}" for job in jobs),
        "to start sooner: " + "; ".join(cheaper) if cheaper else "",
        f"or pass --max-pretrain-minutes {int(estimate / 60) + 1} to build them here",
    ]
    return "\n".join(line for line in lines if line)


class PretrainingTooLongError(ValueError):
    """The missing artifacts would take longer to pretrain than the study allows."""


def check_pretraining(
    jobs: Sequence[PretrainJob],
    cpus: int,
    limit_minutes: float,
    cheaper: Sequence[str] = (),
    measure: Callable[[str], WarmUp] = warm_up,
    progress: Callable[[str], None] = print,
) -> float:
    """Estimate the wall seconds of `jobs` (0 when none) from `measure`'s warm-up of each
    observation kind they use; raise `PretrainingTooLongError` past `limit_minutes`."""
    if not jobs:
        return 0.0
    rates = {obs: measure(obs) for obs in dict.fromkeys(job.spec.obs for job in jobs)}
    estimate = estimate_seconds(jobs, rates, cpus)
    if estimate > limit_minutes * 60:
        raise PretrainingTooLongError(refusal(jobs, rates, cpus, limit_minutes, cheaper))
    progress(f"pretraining {len(jobs)} missing artifact(s) first: about {duration(estimate)} on {cpus} CPU(s)")
    return estimate


def check_artifacts(
    obs: str,
    pretrain_budget: str,
    prior_route: str,
    margins: tuple[float, ...],
    store: ArtifactStore,
    limit_minutes: float,
    encoder: EncoderSetting = DEFAULT_ENCODER,
    lava_bootstrap: str = DEFAULT_LAVA_BOOTSTRAP,
    measure: Callable[[str], WarmUp] = warm_up,
    cpus: int | None = None,
) -> float:
    """`check_pretraining` on the artifacts `store` lacks for this setting, naming in a
    refusal the cheaper ways to start that this store and machine allow, each with its
    own estimate. Returns the estimate (0 when nothing is missing)."""
    cpus = cpus or os.cpu_count() or 1

    def jobs_of(obs: str, budget: str, route: str | None) -> list[PretrainJob]:
        return pretrain_jobs(obs, budget, margins, store.is_ready, lava_bootstrap, encoder, route)

    jobs = jobs_of(obs, pretrain_budget, prior_route)
    rates: dict[str, WarmUp] = {}

    def cached(kind: str) -> WarmUp:
        if kind not in rates:
            rates[kind] = measure(kind)
        return rates[kind]

    try:
        return check_pretraining(jobs, cpus, limit_minutes, measure=cached)
    except PretrainingTooLongError:
        alternatives = []
        if pretrain_budget != "quick":
            alternatives.append(("--pretrain-budget quick", (obs, "quick", None)))
        if obs == "pixels" and prior_route != "distilled":
            alternatives.append(("--prior-route distilled", (obs, pretrain_budget, "distilled")))
        if obs == "pixels":
            alternatives.append(("--obs symbolic", ("symbolic", pretrain_budget, None)))
        cheaper = []
        for flag, setting in alternatives:
            other = jobs_of(*setting)
            for job in other:
                cached(job.spec.obs)
            seconds = estimate_seconds(other, rates, cpus)
            cheaper.append(f"{flag} ({'its artifacts are ready' if not other else 'about ' + duration(seconds)})")
        raise PretrainingTooLongError(refusal(jobs, rates, cpus, limit_minutes, cheaper)) from None


def check_plan(plan: Plan, measure: Callable[[str], WarmUp] = warm_up, cpus: int | None = None) -> float:
    """`check_artifacts` on what `plan` would build; raises `PretrainingTooLongError`."""
    return check_artifacts(
        plan.obs,
        plan.pretrain_budget,
        plan.prior_route,
        tuple(plan.margins),
        ArtifactStore(plan.args.artifact_dir),
        float(plan.args.max_pretrain_minutes),
        encoder=plan.encoder,
        measure=measure,
        cpus=cpus,
    )

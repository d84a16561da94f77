"""Studies over how the encoder is pretrained: one grid study per encoder variant and task.

`run_variants` runs a study's grid once per `Variant` (an `EncoderSetting` on one task),
each in its own run folder, so that the settings without an encoder (``dqn``, ``priors``)
train once and are reused by the others. It then writes, into
``<storage>/<study>/<agent>/`` (the committed results/latent_loss/, results/transfer/):

- operating_points.csv: per variant and every task its encoder was measured on, the ROC AUC
  and the state check at the study's ``d_max`` (flag rate, precision, recall) on held-out
  random layouts, with the median latent distance D of safe and of lava-ahead states (from
  the encoder's manifest);
- fronts.csv: every variant's pareto.csv rows, with its ``variant`` and ``env``;
- fronts.png: return against violations, one panel per task, every variant's settings;
- pareto-<variant>-<task>.png and visitation-<variant>-<task>.png: each run's own plots.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rllib_algos.pretrain_budgets import EncoderSetting, encoder_spec
from shield.artifacts import ArtifactStore
from shield.settings import STATE_CHECK_MODES
from sweeps.plan import Plan, make_plan
from sweeps.plot_style import (
    BASELINE_MARKERS,
    LABEL_SIZE,
    SHIELD_COLOURS,
    TEXT_SIZE,
    add_title,
    save,
    set_violations_scale,
)

OPERATING_COLUMNS = (
    "variant",
    "env",
    "latent_loss",
    "encoder_envs",
    "d_max",
    "roc_auc",
    "flag_rate",
    "precision",
    "recall",
    "D_safe_q50",
    "D_unsafe_q50",
)


@dataclass(frozen=True)
class Variant:
    """One run of the study: the encoder pretrained as `encoder`, the shield on `env`."""

    name: str  # short, for the tables and file names ("triplet", "S9N1-only")
    env: str  # MiniGrid id the trials run on
    encoder: EncoderSetting


def short_env(env_id: str) -> str:
    return env_id.removeprefix("MiniGrid-").removesuffix("-v0")


def variant_plans(plan: Plan, variants: Sequence[Variant]) -> list[Plan]:
    """The plan of each variant (ValueError, naming the flag, before anything runs)."""
    plans = []
    for variant in variants:
        args = argparse.Namespace(
            **vars(plan.args)
            | {
                "env": variant.env,
                "latent_loss": variant.encoder.latent_loss,
                "encoder_envs": list(variant.encoder.encoder_envs),
                "run_id": f"{plan.args.run_id}-{variant.name}-{short_env(variant.env)}" if plan.args.run_id else None,
            }
        )
        try:
            plans.append(make_plan(plan.study, args))
        except ValueError as err:
            raise ValueError(f"{err} (run {variant.name} on {variant.env})") from err
    return plans


def operating_points(plan: Plan, variant: Variant) -> list[dict]:
    """`OPERATING_COLUMNS` rows of `variant`'s encoder: one per task its manifest measured it
    on (held-out random layouts), margin and d_max the plan's state-check settings start at."""
    store = ArtifactStore(plan.args.artifact_dir)
    starts = sorted({(s.margin, s.d_max_start) for s in plan.settings if s.mode in STATE_CHECK_MODES})
    rows = []
    for margin, d_max in starts:
        quality = store.manifest(encoder_spec(plan.obs, plan.pretrain_budget, margin, variant.encoder))["quality"]
        for env, figures in quality.items():
            distances = figures.get("operating_points", {})
            point = distances.get("d_max", {}).get(f"{d_max:g}", {})
            rows.append(
                {
                    "variant": variant.name,
                    "env": env,
                    "latent_loss": variant.encoder.latent_loss,
                    "encoder_envs": " ".join(variant.encoder.encoder_envs),
                    "d_max": d_max,
                    "roc_auc": figures.get("roc_auc", math.nan),
                    "flag_rate": point.get("flag_rate", math.nan),
                    "precision": point.get("precision", math.nan),
                    "recall": point.get("recall", math.nan),
                    "D_safe_q50": distances.get("D_safe", {}).get("q50", math.nan),
                    "D_unsafe_q50": distances.get("D_unsafe", {}).get("q50", math.nan),
                }
            )
    return rows


RULE_MARKERS = {"fixed": "o", "relative": "*", "adaptive": "P", "capped": "X"}


def fronts_figure(fronts: pd.DataFrame, title: str) -> Figure:
    """Mean return_final against mean violations_total (with 95% intervals where the table
    has them), one panel per task: the encoder's variants in colours, the threshold rules
    as markers, the baselines once. Each variant's markers are drawn smaller than the one
    before, so that settings that coincide show as rings around each other; the legend
    below names them."""
    envs = list(dict.fromkeys(fronts["env"]))
    fig = Figure(figsize=(6.0 * len(envs), 5.8), layout="constrained")
    axes = fig.subplots(1, len(envs), squeeze=False)[0]
    variants = list(dict.fromkeys(fronts["variant"]))
    colours = dict(zip(variants, SHIELD_COLOURS, strict=False))
    sizes = {variant: 14.0 - 7.0 * i / max(len(variants) - 1, 1) for i, variant in enumerate(variants)}
    handles: dict[str, Line2D] = {}
    for ax, env in zip(axes, envs, strict=True):
        rows = fronts[fronts["env"] == env]
        baselines = rows[~rows["mode"].isin(STATE_CHECK_MODES)].drop_duplicates("setting")
        for _, row in baselines.iterrows():
            marker, colour = BASELINE_MARKERS.get(row["mode"], ("o", "0.3"))
            ax.plot(row["violations_total_mean"], row["return_final_mean"], marker=marker, color=colour, ms=9, ls="")
            handles.setdefault(row["mode"], Line2D([], [], marker=marker, color=colour, ms=9, ls="", label=row["mode"]))
        for variant in variants:
            for _, row in rows[(rows["variant"] == variant) & rows["mode"].isin(STATE_CHECK_MODES)].iterrows():
                rule = row["d_max_rule"] if isinstance(row.get("d_max_rule"), str) else "fixed"
                marker, colour, size = RULE_MARKERS.get(rule, "o"), colours[variant], sizes[variant]
                x, y = row["violations_total_mean"], row["return_final_mean"]
                ax.errorbar(
                    x,
                    y,
                    xerr=_bar(row, "violations_total"),
                    yerr=_bar(row, "return_final"),
                    marker=marker,
                    color=colour,
                    ms=size,
                    mec="white",
                    mew=0.8,
                    capsize=3,
                    ls="",
                )
                label = f"{variant}: {row['mode']} {rule}"
                handles.setdefault(label, Line2D([], [], marker=marker, color=colour, ms=9, ls="", label=label))
        set_violations_scale(ax, "x", rows["violations_total_mean"].to_numpy(dtype=float))
        ax.set_xlabel("violations_total: lava deaths in training (mean over seeds)", fontsize=LABEL_SIZE)
        ax.set_ylabel("return_final (mean over seeds)", fontsize=LABEL_SIZE)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(short_env(env), fontsize=LABEL_SIZE)
        ax.grid(alpha=0.3)
    fig.legend(
        handles=list(handles.values()),
        loc="outside lower center",
        ncols=min(2 * len(envs), len(handles)),
        fontsize=TEXT_SIZE,
        frameon=False,
    )
    add_title(fig, title, "each setting's mean over seeds; bars: 95% t-interval where the table gives one")
    return fig


def _bar(row: pd.Series, name: str) -> list[list[float]] | None:
    low, high, mean = row[f"{name}_ci_low"], row[f"{name}_ci_high"], row[f"{name}_mean"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]


def run_variants(plan: Plan, variants: Sequence[Variant]) -> int:
    """Run `plan`'s study once per variant, then write the comparison (module docstring); exit code."""
    try:
        plans = variant_plans(plan, variants)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from sweeps.runner import run_grid  # Ray: only once every input is checked

    failed = 0
    for variant, sub in zip(variants, plans, strict=True):
        print(f"\n== {plan.study.name}: {variant.name} on {short_env(variant.env)} ==", flush=True)
        failed += run_grid(sub) != 0
    points = write_comparison(plan, variants, plans)
    print(
        f"\n{plan.study.name}: {len(variants) - failed} of {len(variants)} runs finished. Comparison: "
        f"{plan.storage / plan.study.name / plan.agent}"
    )
    print(pd.DataFrame(points, columns=list(OPERATING_COLUMNS)).to_string(index=False))
    return 1 if failed else 0


def write_comparison(plan: Plan, variants: Sequence[Variant], plans: Sequence[Plan]) -> list[dict]:
    """Write the comparison of the variants' runs (module docstring); its operating points."""
    folder = plan.storage / plan.study.name / plan.agent
    folder.mkdir(parents=True, exist_ok=True)
    points, fronts = [], []
    measured: set[tuple[str, EncoderSetting]] = set()
    for variant, sub in zip(variants, plans, strict=True):
        if (variant.name, variant.encoder) not in measured:  # an encoder's figures once, whatever task it ran on
            measured.add((variant.name, variant.encoder))
            points += operating_points(sub, variant)
        tag = f"{variant.name}-{short_env(variant.env)}"
        if (sub.run_dir / "pareto.csv").exists():
            fronts.append(pd.read_csv(sub.run_dir / "pareto.csv").assign(variant=variant.name, env=variant.env))
        for name in ("pareto.png", "visitation.png"):
            if (sub.run_dir / name).exists():
                shutil.copy2(sub.run_dir / name, folder / f"{name.removesuffix('.png')}-{tag}.png")
    pd.DataFrame(points, columns=list(OPERATING_COLUMNS)).to_csv(folder / "operating_points.csv", index=False)
    if fronts:
        table = pd.concat(fronts, ignore_index=True)
        table = table[["variant", "env", *(c for c in table.columns if c not in ("variant", "env"))]]
        table.to_csv(folder / "fronts.csv", index=False)
        save(fronts_figure(table, f"{plan.study.name} ({plan.obs}, {plan.budget.name})"), folder / "fronts.png")
    return points

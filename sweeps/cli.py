"""The command line: `shieldsweep <command>`, and the study scripts, which share its parser.

shieldsweep threshold --d-max 1 2.5          # the same as python sweeps/threshold.py --d-max 1 2.5
shieldsweep pretrain  --obs symbolic --pretrain-budget quick [--margin 10 --margin 5]
shieldsweep quality   --obs symbolic --pretrain-budget quick [--margin 10] [--envs MiniGrid-LavaGapS7-v0]
shieldsweep quality   --obs pixels --lava-look blue      # the pixel artifacts on lava drawn in blue
shieldsweep report    results/threshold/<run-id>
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from rllib_algos.pretrain_budgets import BUDGET_NAMES, DEFAULT_LAVA_BOOTSTRAP, LAVA_BOOTSTRAPS
from shield.envs import DEFAULT_LAVA_LOOK, LAVA_LOOKS, OBS_KINDS, check_lava_look
from shield.settings import PAPER_SHIELD
from sweeps.launch import run_plan
from sweeps.plan import (
    HelpFormatter,
    Study,
    add_encoder_arguments,
    add_renamed_flag,
    add_study_arguments,
    check_frame,
    encoder_setting,
    prior_route,
)

STUDIES = (
    "threshold",
    "adaptive",
    "rho",
    "margin",
    "buffer_size",
    "ablation",
    "latent_loss",
    "transfer",
    "pareto_search",
    "reproduce",
    "reliability",
)


def study_of(name: str) -> Study:
    """The `Study` declared in sweeps/<name>.py."""
    return importlib.import_module(f"sweeps.{name}").STUDY


def _add_artifact_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--obs", choices=list(OBS_KINDS), default="symbolic")
    parser.add_argument("--pretrain-budget", choices=BUDGET_NAMES, default="quick", help="pretraining budget")
    add_renamed_flag(parser, "--budget", "--pretrain-budget", choices=BUDGET_NAMES)
    parser.add_argument(
        "--margin",
        type=float,
        action="append",
        help=f"contrastive margin α of an encoder to provide (repeatable; default {PAPER_SHIELD.margin:g})",
    )
    parser.add_argument("--lava-bootstrap", choices=list(LAVA_BOOTSTRAPS), default=DEFAULT_LAVA_BOOTSTRAP)
    add_encoder_arguments(parser)
    parser.add_argument("--artifact-dir", help="artifact store (default: $SHIELDSWEEP_ARTIFACTS or ./artifacts)")


def pretrain(args: argparse.Namespace) -> int:
    import ray

    from rllib_algos.pretrain import ensure_artifacts
    from shield.artifacts import ArtifactStore
    from sweeps.preflight import check_artifacts

    store = ArtifactStore(args.artifact_dir)
    margins = tuple(args.margin or [PAPER_SHIELD.margin])
    try:  # before Ray starts
        encoder = encoder_setting(args)
        route = prior_route(args, args.obs, args.pretrain_budget)
        check_artifacts(
            args.obs,
            args.pretrain_budget,
            route,
            margins,
            store,
            args.max_pretrain_minutes,
            encoder=encoder,
            lava_bootstrap=args.lava_bootstrap,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=True)
    weights = ensure_artifacts(
        args.obs,
        args.pretrain_budget,
        margins=margins,
        lava_bootstrap=args.lava_bootstrap,
        store=store,
        encoder=encoder,
        prior_route=route,
    )
    print(json.dumps(weights.to_dict(), indent=2))
    return 0


def _figure(figures: dict, name: str, digits: int = 3) -> str:
    """A manifest's figure for printing: "—" where the manifest has none (another task)."""
    return f"{figures[name]:.{digits}f}" if name in figures else "—"


def quality(args: argparse.Namespace) -> int:
    """Recompute the quality figures of stored artifacts and print them beside the manifest's
    (with --write, store the recomputed figures in the manifests, and the encoders'
    operating_points.png)."""
    from rllib_algos.pretrain_budgets import EVAL_ENVS, EVAL_SEED, check_budget, encoder_spec, prior_spec
    from shield.artifacts import ArtifactStore
    from shield.latent_plot import plot_operating_points
    from shield.pretrain_data import random_experience
    from shield.quality import concatenated, encoder_quality, on_policy_walks, prior_q_quality
    from shield.weights import load_frozen

    store = ArtifactStore(args.artifact_dir)
    budget = check_budget(args.pretrain_budget)
    envs = list(dict.fromkeys(args.envs or EVAL_ENVS))
    try:
        for env_id in envs:
            check_frame(env_id, args.obs)
    except ValueError as err:
        print(f"error: --envs: {err}", file=sys.stderr)
        return 2
    try:
        check_lava_look(args.lava_look, args.obs)
        route = prior_route(args, args.obs, args.pretrain_budget)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.write and args.lava_look != DEFAULT_LAVA_LOOK:
        print(
            "error: --write stores the figures of MiniGrid's own lava; leave --write out with --lava-look",
            file=sys.stderr,
        )
        return 2
    look = args.lava_look
    data = {
        env_id: random_experience([env_id], args.obs, budget.eval_steps, EVAL_SEED, lava_look=look) for env_id in envs
    }
    prior = prior_spec(args.obs, args.pretrain_budget, args.lava_bootstrap, route)
    q_p = load_frozen(store.check(prior), "prior_q", args.obs)
    print(f"{prior.key}  (Q_p: unsafe_flagged target >= 0.95; safe_flagged lower is better)")
    walks = {env_id: on_policy_walks(env_id, args.obs, lava_look=look) for env_id in envs}
    recorded = store.manifest(prior)["quality"]
    prior_figures = {}
    for env_id, d in data.items():
        now = prior_figures[env_id] = prior_q_quality(q_p, d) | {
            "on_policy": prior_q_quality(q_p, concatenated([walk for _, walk in walks[env_id]]))
        }
        then = recorded.get(env_id, {})
        policy = now["on_policy"]
        print(
            f"  {env_id:32s} unsafe_flagged {now['unsafe_flagged']:.3f} (manifest {_figure(then, 'unsafe_flagged')})"
            f"  safe_flagged {now['safe_flagged']:.3f} (manifest {_figure(then, 'safe_flagged')})"
            f"  on-policy: {policy['unsafe_flagged']:.3f} / {policy['safe_flagged']:.3f}"
        )
    if args.write:
        store.amend(prior, {"quality": recorded | prior_figures})
    for margin in args.margin or [PAPER_SHIELD.margin]:
        spec = encoder_spec(args.obs, args.pretrain_budget, margin, encoder_setting(args))
        encoder = load_frozen(store.check(spec), "encoder", args.obs)
        figures = {env_id: encoder_quality(encoder, d, walks[env_id]) for env_id, d in data.items()}
        print(f"{spec.key}  (encoder: ROC AUC target >= 0.95; state check at d_max: flag rate / precision / recall)")
        recorded = store.manifest(spec)["quality"]
        for env_id, now in figures.items():
            then = _figure(recorded.get(env_id, {}), "roc_auc", digits=4)
            points = now["operating_points"]
            at = "  ".join(
                f"{d}: {p['flag_rate']:.2f} / {p['precision']:.2f} / {p['recall']:.2f}"
                for d, p in points["d_max"].items()
                if d in ("1", "2.5", "4")
            )
            print(
                f"  {env_id:32s} roc_auc {now['roc_auc']:.4f} (manifest {then})  median D safe "
                f"{points['D_safe']['q50']:.2f}, lava ahead {points['D_unsafe']['q50']:.2f}  {at}"
            )
            for rule, policy in now["on_policy"].items():
                at = "  ".join(
                    f"{d}: {p['flag_rate']:.2f} / {p['precision']:.2f} / {p['recall']:.2f}"
                    for d, p in policy["d_max"].items()
                    if d in ("1", "2.5", "4")
                )
                print(f"  {'':32s} on-policy, buffer {rule:8s} median D safe {policy['D_safe']['q50']:.2f}  {at}")
        if args.write:
            store.amend(spec, {"quality": recorded | figures})
            plot_operating_points(figures, store.folder(spec) / "operating_points.png", title=spec.key)
            print(f"  written into {store.folder(spec) / 'manifest.json'} and operating_points.png")
    return 0


def report(args: argparse.Namespace) -> int:
    """Rebuild a study's tables and plots from its run folder (or a published folder)."""
    from sweeps.report import write_report

    folder = Path(args.run_dir)
    if not folder.is_dir():
        print(
            f"error: {folder} is not a directory: pass a study run folder, e.g. results/threshold/<run-id>",
            file=sys.stderr,
        )
        return 2
    if not any(folder.glob("*/params.json")) and not (folder / "trials.csv").exists():
        print(
            f"error: {folder} holds no trial folders (*/params.json) and no trials.csv: pass a study run folder, "
            "e.g. results/threshold/<run-id>, or a published one such as results/reproduce/nstep3",
            file=sys.stderr,
        )
        return 2
    for name, path in write_report(folder).items():
        print(f"{name:22s} {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``shieldsweep`` command line: one sub-command per study, pretrain, quality, report."""
    parser = argparse.ArgumentParser(prog="shieldsweep", description="Sweeps of a learned safety shield.")
    commands = parser.add_subparsers(dest="command", title="commands")
    for name in STUDIES:
        study = study_of(name)
        sub = commands.add_parser(
            name,
            help=study.description,
            description=study.description,
            formatter_class=HelpFormatter,
        )
        add_study_arguments(sub, study)
        sub.set_defaults(run=lambda args, study=study: run_plan(study, args))
    p = commands.add_parser("pretrain", help="build (or find cached) Q_p and encoder artifacts")
    _add_artifact_args(p)
    p.set_defaults(run=pretrain)
    q = commands.add_parser("quality", help="recompute the quality figures of stored artifacts")
    _add_artifact_args(q)
    q.add_argument("--write", action="store_true", help="store the recomputed encoder figures in the manifests")
    q.add_argument(
        "--envs",
        nargs="+",
        metavar="ENV",
        help="tasks to measure on, held-out random layouts (default: the three LavaCrossingS9 tasks)",
    )
    q.add_argument(
        "--lava-look",
        choices=list(LAVA_LOOKS),
        default=DEFAULT_LAVA_LOOK,
        help="measure on lava drawn another way (pixels only): the same layouts, another appearance",
    )
    q.set_defaults(run=quality)
    r = commands.add_parser("report", help="rebuild tables and plots from a run folder or a published folder")
    r.add_argument("run_dir", help="a study run folder (results/threshold/<run-id>) or a published one")
    r.set_defaults(run=report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())

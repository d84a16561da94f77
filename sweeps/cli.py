"""The `shieldsweep` command line.

shieldsweep pretrain --obs symbolic --budget quick [--margin 10 --margin 5]
shieldsweep quality  --obs symbolic --budget quick [--margin 10]
"""

from __future__ import annotations

import argparse
import json
import sys

from rllib_algos.pretrain import BUDGET_NAMES, DEFAULT_MARGIN


def _add_artifact_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--obs", choices=["symbolic", "pixels"], default="symbolic")
    parser.add_argument("--budget", choices=BUDGET_NAMES, default="quick")
    parser.add_argument(
        "--margin",
        type=float,
        action="append",
        help=f"contrastive margin α of an encoder to provide (repeatable; default {DEFAULT_MARGIN})",
    )
    parser.add_argument("--lava-bootstrap", choices=["reset", "terminal"], default="reset")
    parser.add_argument("--artifact-dir", help="artifact store (default: $SHIELDSWEEP_ARTIFACTS or ./artifacts)")


def pretrain(args: argparse.Namespace) -> int:
    import ray

    from rllib_algos.artifacts import ArtifactStore
    from rllib_algos.pretrain import ensure_artifacts

    ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=True)
    paths = ensure_artifacts(
        args.obs,
        args.budget,
        margins=args.margin or [DEFAULT_MARGIN],
        lava_bootstrap=args.lava_bootstrap,
        store=ArtifactStore(args.artifact_dir),
    )
    print(json.dumps(paths, indent=2))
    return 0


def quality(args: argparse.Namespace) -> int:
    """Recompute the quality figures of stored artifacts and print them beside the manifest's."""
    from rllib_algos.artifacts import ArtifactStore
    from rllib_algos.pretrain import EVAL_ENVS, EVAL_SEED, PRETRAIN_BUDGETS, encoder_spec, prior_spec
    from shield.pretrain_data import encoder_auc, prior_q_quality, random_experience
    from shield.weights import load_frozen

    store = ArtifactStore(args.artifact_dir)
    budget = PRETRAIN_BUDGETS[args.budget]
    data = {env_id: random_experience([env_id], args.obs, budget.eval_steps, EVAL_SEED) for env_id in EVAL_ENVS}
    prior = prior_spec(args.obs, args.budget, args.lava_bootstrap)
    q_p = load_frozen(store.check(prior), "prior_q", args.obs)
    print(f"{prior.key}  (Q_p: unsafe_flagged target >= 0.95; safe_flagged lower is better)")
    for env_id, d in data.items():
        now = prior_q_quality(q_p, d)
        then = store.manifest(prior)["quality"][env_id]
        print(
            f"  {env_id:32s} unsafe_flagged {now['unsafe_flagged']:.3f} (manifest {then['unsafe_flagged']:.3f})"
            f"  safe_flagged {now['safe_flagged']:.3f} (manifest {then['safe_flagged']:.3f})"
        )
    for margin in args.margin or [DEFAULT_MARGIN]:
        spec = encoder_spec(args.obs, args.budget, margin)
        encoder = load_frozen(store.check(spec), "encoder", args.obs)
        print(f"{spec.key}  (encoder: ROC AUC target >= 0.95)")
        for env_id, d in data.items():
            then = store.manifest(spec)["quality"][env_id]["roc_auc"]
            print(f"  {env_id:32s} roc_auc {encoder_auc(encoder, d):.4f} (manifest {then:.4f})")
    return 0


def report(args: argparse.Namespace) -> int:
    """Rebuild a study's tables and plots from its Tune experiment directory."""
    from pathlib import Path

    from sweeps.report import write_report

    experiment_dir = Path(args.experiment_dir)
    if not experiment_dir.is_dir():
        print(f"error: {experiment_dir} is not a directory", file=sys.stderr)
        return 2
    for name, path in write_report(experiment_dir).items():
        print(f"{name:22s} {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shieldsweep", description="Sweeps of a learned safety shield.")
    commands = parser.add_subparsers(dest="command", title="commands")
    p = commands.add_parser("pretrain", help="build (or find cached) Q_p and encoder artifacts")
    _add_artifact_args(p)
    p.set_defaults(run=pretrain)
    q = commands.add_parser("quality", help="recompute the quality figures of stored artifacts")
    _add_artifact_args(q)
    q.set_defaults(run=quality)
    r = commands.add_parser("report", help="rebuild tables and plots from a Tune experiment directory")
    r.add_argument("experiment_dir", help="a study run folder, e.g. results/threshold/<run-id>")
    r.set_defaults(run=report)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Study: which latent loss makes the state check work (the paper's open question 2).

The encoder is pretrained once per latent loss (`shield.contrastive`: ``margin``, the
paper's; ``triplet``; ``supcon``), the rest of its pretraining unchanged; the shield runs
with each on the same seeds, beside dqn and priors (trained once). Writes each loss's run
folder and the comparison (`sweeps.encoder_variants`: operating points per task, ROC AUC,
the fronts) into ``<storage>/latent_loss/<agent>/`` (the committed results/latent_loss/).

python sweeps/latent_loss.py                          # quick budget, S9N1, the three losses
python sweeps/latent_loss.py --losses margin supcon --env MiniGrid-LavaCrossingS9N2-v0
"""

import argparse

from rllib_algos.pretrain_budgets import EncoderSetting
from shield.contrastive import LATENT_LOSSES
from shield.settings import DEFAULT_SHIELD
from sweeps.encoder_variants import Variant, run_variants
from sweeps.launch import run_study
from sweeps.plan import Plan, Study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--losses", nargs="+", choices=list(LATENT_LOSSES), default=list(LATENT_LOSSES), help="latent losses compared"
    )


def run(plan: Plan) -> int:
    losses = list(dict.fromkeys(plan.args.losses))
    return run_variants(
        plan, [Variant(loss, plan.env, EncoderSetting(loss, plan.encoder.encoder_envs)) for loss in losses]
    )


STUDY = Study(
    name="latent_loss",
    description="The shield with an encoder pretrained on each latent loss (margin: the paper's, triplet, supcon), "
    "beside dqn and priors, on the same seeds.",
    grid={"d_max": [DEFAULT_SHIELD.d_max]},
    add_arguments=add_arguments,
    run=run,
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

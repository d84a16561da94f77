"""Study: does the safety representation transfer, as the paper claims it does?

The paper trains its encoder on LavaCrossingS9N1 alone and uses it on S9N2 and S9N3. The
tool's default encoder learns on random layouts of all three. This study runs the shield
with both encoders on each of ``--envs`` (default S9N2 and S9N3), under the fixed
threshold (the paper's), the adaptive one and the capped one (the default), beside dqn
and priors. The question: can a threshold that follows the distances the agent meets
rescue the paper's protocol? (The relative rule, ``d_max`` · √margin, is a fixed
threshold on the scale of one margin: at one margin it is the fixed rule again, so it is
not run here.) Writes each run folder and the comparison (`sweeps.encoder_variants`) into
``<storage>/transfer/<agent>/`` (the committed results/transfer/).

python sweeps/transfer.py                                   # quick budget, S9N2 and S9N3
python sweeps/transfer.py --envs MiniGrid-LavaCrossingS9N3-v0 --d-max-rule fixed capped
"""

import argparse

from rllib_algos.pretrain_budgets import DEFAULT_ENCODER, EncoderSetting
from shield.envs import DEFAULT_ENV
from shield.settings import DEFAULT_SHIELD
from sweeps.encoder_variants import Variant, run_variants
from sweeps.launch import run_study
from sweeps.plan import Plan, Study

PAPER_ENCODER = EncoderSetting(encoder_envs=(DEFAULT_ENV,))  # the paper's protocol: S9N1 alone
TRANSFER_ENVS = ("MiniGrid-LavaCrossingS9N2-v0", "MiniGrid-LavaCrossingS9N3-v0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--envs", nargs="+", default=list(TRANSFER_ENVS), help="tasks the shield runs on")


def run(plan: Plan) -> int:
    variants = [
        Variant(name, env, encoder)
        for env in dict.fromkeys(plan.args.envs)
        for name, encoder in (("S9N1-only", PAPER_ENCODER), ("three-tasks", DEFAULT_ENCODER))
    ]
    return run_variants(plan, variants)


STUDY = Study(
    name="transfer",
    description="The shield with the paper's S9N1-only encoder and the default three-task one, on S9N2 and S9N3, "
    "under the fixed, adaptive and capped thresholds, beside dqn and priors.",
    grid={
        "d_max_rule": ["fixed", "adaptive", "capped"],
        "d_max": [DEFAULT_SHIELD.d_max],
        "adaptive_recall": [DEFAULT_SHIELD.adaptive_recall],
        "adaptive_flag_rate": [DEFAULT_SHIELD.adaptive_flag_rate],
    },
    add_arguments=add_arguments,
    run=run,
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

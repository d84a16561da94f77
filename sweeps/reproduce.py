"""Study: reproduce the paper on LavaCrossingS9N1 (dqn, priors ρ=0.95 and ρ=0.5, the shield at the
paper's settings, and the shield with this tool's default rules: distinct buffer, capped d_max).

200K environment steps per trial, fixed layouts with seeds 123, 456, 789, 1000, 1001; writes the usual
tables and plots plus paper_comparison.csv/.png (our final figures beside the paper's), and
copies them with the manifest into ``<storage>/reproduce/<agent>/`` (the committed results/reproduce/).

python sweeps/reproduce.py                                 # symbolic, default agent (~1 hour on 2 cores)
python sweeps/reproduce.py --agent paper                   # the paper's agent exactly
python sweeps/reproduce.py --obs pixels --pretrain-budget paper  # the paper's input (GPU advised)
"""

from shield.settings import PAPER_SHIELD, ShieldParams
from sweeps.launch import run_study
from sweeps.plan import BASELINES, Study
from sweeps.report import publish

STUDY = Study(
    name="reproduce",
    description="The paper's methods on MiniGrid-LavaCrossingS9N1 (dqn, priors rho 0.95 and 0.5, the paper's "
    "shield and the default one), 200K steps, seeds 123/456/789/1000/1001.",
    defaults={
        "budget": "paper",
        "obs": "symbolic",
        "pretrain_budget": "quick",
    },
    after_run=publish,
    baselines=(*BASELINES, ShieldParams(mode="priors", rho=0.5), PAPER_SHIELD),
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

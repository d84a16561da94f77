"""Study: the latent distance threshold d_max, against the baselines dqn and priors.

python sweeps/threshold.py                      # quick budget, local Ray
python sweeps/threshold.py --d-max 1 2 3 4 --budget paper --storage /shared/results
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="threshold",
    description="Sweep the shield's latent distance threshold d_max, from too loose to catch lava (0.003) "
    "through the paper's 2.5 to one that flags every state (3.5).",
    # Where d_max changes the outcome, measured in training on S9N1 (quick budget, layouts 123
    # and 789; docs/method.md): below ~0.03 the state check misses most states before lava
    # (0.003: 97-128 deaths, flag rate 0.03; 2.5: 29-34); from 0.03 to 2.5 it changes little;
    # past sqrt(margin) = 3.16 it flags every state and the shield becomes the priors baseline.
    grid={"d_max": [0.003, 2.5, 3.5]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

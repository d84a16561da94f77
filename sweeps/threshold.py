"""Study: the latent distance threshold d_max, against the baselines dqn and priors.

python sweeps/threshold.py                      # quick budget, local Ray
python sweeps/threshold.py --d-max 1 2 3 4 --budget paper --storage /shared/results
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="threshold",
    description="Sweep the shield's latent distance threshold d_max (the paper's 2.5 and a stricter 1.0).",
    # d_max at or above sqrt(margin) (3.16 for the default margin 10) flags every state, which
    # turns the shield into the priors baseline: the default grid stays below it.
    grid={"d_max": [1.0, 2.5]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

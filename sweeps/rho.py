"""Study: rho, the probability that the shield acts in a flagged state.

python sweeps/rho.py --rho 0.5 0.8 0.95 1.0
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="rho",
    description="Sweep rho, the probability of acting on a state the shield flags (the paper's 0.95 among them).",
    grid={"rho": [0.5, 0.8, 0.95, 1.0]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

"""Study: reproduce the paper on LavaCrossingS9N1 (dqn, priors ρ=0.95, shield at the paper's settings).

200K environment steps per trial, fixed layouts with seeds 123, 456, 789; writes the usual
tables and plots plus paper_comparison.csv (our final figures beside the paper's).

python sweeps/reproduce.py                              # symbolic, about an hour on 2 cores
python sweeps/reproduce.py --obs pixels --artifacts paper  # the paper's input (GPU advised)
"""

from sweeps.study import Study, main

STUDY = Study(
    name="reproduce",
    description="The paper's three methods on MiniGrid-LavaCrossingS9N1, 200K steps, seeds 123/456/789.",
    defaults={"budget": "paper", "obs": "symbolic", "artifacts": "quick"},
)

if __name__ == "__main__":
    raise SystemExit(main(STUDY))

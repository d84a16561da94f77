"""Study: the contrastive margin α of the encoder (one pretrained encoder per α, cached).

python sweeps/margin.py --margin 2 5 10 20
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="margin",
    description="Sweep the contrastive margin α the encoder is trained with (the paper's 10 among them).",
    grid={"margin": [2.0, 5.0, 10.0, 20.0]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

"""Study: the contrastive margin α of the encoder (one pretrained encoder per α, cached).

The margin pushes safe latents at least √α from unsafe ones, so a fixed d_max means a
different thing on every margin (at or above √α it flags about every state). The study
therefore gives d_max relative to √α (``--d-max-rule relative``): 0.8 · √α is the paper's
2.5 at α 10, and the same fraction of the safe/unsafe gap on every margin.

python sweeps/margin.py --margin 2 5 10 20
python sweeps/margin.py --d-max-rule fixed --d-max 2.5   # the paper's absolute threshold on every margin
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="margin",
    description="Sweep the contrastive margin α the encoder is trained with (the paper's 10 among them).",
    grid={"margin": [2.0, 5.0, 10.0, 20.0], "d_max_rule": ["relative"], "d_max": [0.8]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

"""Study: a fixed d_max against the adaptive rule, with the baselines dqn and priors.

The paper's first open question: can a threshold set during training from what the agent
has seen do better than a fixed one? The adaptive rule (`shield.threshold`) starts at
``d_max`` and then flags the states at least as close to the stored unsafe embeddings as
``adaptive_recall`` of recent pre-death states were, capped at ``adaptive_flag_rate`` of
the states it checks. Each d_max is run fixed and as the adaptive rule's start.

python sweeps/adaptive.py                                   # quick budget, local Ray
python sweeps/adaptive.py --adaptive-recall 0.8 0.95 --budget paper --obs symbolic --pretrain-budget quick
"""

from sweeps.launch import run_study
from sweeps.plan import Study
from sweeps.report import publish

STUDY = Study(
    name="adaptive",
    description="A fixed d_max (1.0, the paper's 2.5) against the adaptive rule started at the same values.",
    after_run=publish,  # tables, plots and manifest into <storage>/adaptive/<agent>/ (the committed results/adaptive/)
    grid={
        "d_max_rule": ["fixed", "adaptive"],
        "d_max": [1.0, 2.5],
        "adaptive_recall": [0.9],
        "adaptive_flag_rate": [0.2],
    },
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

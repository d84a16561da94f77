"""Study: reproduce the paper on LavaCrossingS9N1 (dqn, priors ρ=0.95, shield at the paper's settings).

200K environment steps per trial, fixed layouts with seeds 123, 456, 789; writes the usual
tables and plots plus paper_comparison.csv/.png (our final figures beside the paper's), and
copies them with the manifest into ``<storage>/reproduce/`` (the committed results/reproduce/).

python sweeps/reproduce.py                                 # symbolic, about an hour on 2 cores
python sweeps/reproduce.py --obs pixels --artifacts paper  # the paper's input (GPU advised)
"""

import shutil
from pathlib import Path

from sweeps.study import Study, main

PUBLISHED = ("*.csv", "*.png", "manifest.json")


def publish(run_dir: Path) -> None:
    """Copy the run's tables, plots and manifest next to the run folder (results/reproduce/)."""
    for pattern in PUBLISHED:
        for path in Path(run_dir).glob(pattern):
            shutil.copy2(path, Path(run_dir).parent / path.name)


STUDY = Study(
    name="reproduce",
    description="The paper's three methods on MiniGrid-LavaCrossingS9N1, 200K steps, seeds 123/456/789.",
    defaults={"budget": "paper", "obs": "symbolic", "artifacts": "quick"},
    after_run=publish,
)

if __name__ == "__main__":
    raise SystemExit(main(STUDY))

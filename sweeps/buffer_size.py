"""Study: the unsafe-embedding buffer's size, and k, the neighbours averaged into D.

python sweeps/buffer_size.py --buffer-size 10 50 100 200 --k 1 10
"""

from sweeps.launch import run_study
from sweeps.plan import Study

STUDY = Study(
    name="buffer_size",
    description="Sweep the unsafe buffer size and k, the nearest unsafe embeddings averaged (paper: 100, 10).",
    grid={"buffer_size": [10, 50, 100, 200], "k": [1, 10]},
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

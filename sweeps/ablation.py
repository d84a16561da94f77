"""Study: what each of the shield's two checks contributes on its own.

Four modes on the same seeds: ``dqn`` (no check), ``priors`` (the action check alone, in
every state), ``state_only`` (the state check alone: a flagged state's proposed action is
replaced by a uniformly random other action, without Q_p) and ``shield`` (both).

python sweeps/ablation.py                                   # quick budget, S9N1 (~14 min on 2 cores)
python sweeps/ablation.py --env MiniGrid-LavaCrossingS9N2-v0

Tables, plots and manifest are copied into ``<storage>/ablation/<agent>[-<env>]/`` (the
committed results/ablation/nstep3/ and nstep3-LavaCrossingS9N2/).
"""

from shield.settings import DEFAULT_SHIELD
from sweeps.launch import run_study
from sweeps.plan import Study
from sweeps.report import publish

STUDY = Study(
    name="ablation",
    description="Remove the shield's state check, its action check, or both: dqn, priors (action check "
    "alone), state_only (state check alone) and shield, on the same seeds.",
    grid={"mode": ["state_only", "shield"], "d_max": [DEFAULT_SHIELD.d_max], "rho": [DEFAULT_SHIELD.rho]},
    after_run=publish,  # tables, plots and manifest into <storage>/ablation/<agent>[-<env>]/ (results/ablation/)
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

"""Study: how reliably the agent learns, with and without the shield, over many layouts.

Runs `dqn` and the shield, with the tool's unsafe buffer and threshold rules ("distinct",
"capped") and the paper's ("ring", "fixed"; `--buffer-rule`, `--d-max-rule` choose), on
`--seeds` fixed layouts (default 10:
123, 456, 789, 1000-1006) and, besides the usual tables, prints and writes
``learned.csv``: the fraction of seeds whose return_final reached the learned threshold
at each quarter of the budget, so one run also tells the smallest budget at which most
seeds have learned. Tables, plots and manifest are copied to ``<storage>/reliability/<agent>/``
(the committed results/reliability/nstep3/).

python sweeps/reliability.py                # 200K steps, 10 layouts: dqn and both rules x both rules (50 trials)
python sweeps/reliability.py --buffer-rule distinct --d-max-rule capped   # dqn and the default shield only
python sweeps/reliability.py --env MiniGrid-LavaCrossingS9N3-v0 --seeds 5   # another task, 5 layouts
python sweeps/reliability.py --budget paper --agent paper   # the same with the paper's agent
"""

from pathlib import Path

from shield.settings import ShieldParams
from sweeps.launch import run_study
from sweeps.plan import Study
from sweeps.report import publish


def report_learned(run_dir: Path) -> None:
    """Write and print learned.csv (see `sweeps.results.learned_table`)."""
    from sweeps.report import read_trials
    from sweeps.results import learned_table

    curves = read_trials(run_dir).curves
    table = learned_table(curves)
    table.to_csv(run_dir / "learned.csv", index=False)
    publish(run_dir)
    print(f"\nSeeds that learned (return_final >= threshold), by env steps: {run_dir / 'learned.csv'}")
    print(table.to_string(index=False))


STUDY = Study(
    name="reliability",
    description="dqn and the shield (the tool's buffer rule and the paper's) over many fixed layouts: the fraction "
    "of seeds that learn, at every quarter of the budget.",
    grid={"buffer_rule": ["distinct", "ring"], "d_max_rule": ["capped", "fixed"]},
    defaults={"budget": "paper", "obs": "symbolic", "pretrain_budget": "quick", "seeds": 10},
    baselines=(ShieldParams(mode="dqn"),),
    after_run=report_learned,
)

if __name__ == "__main__":
    raise SystemExit(run_study(STUDY))

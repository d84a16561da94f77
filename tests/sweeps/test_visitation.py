"""The visitation counter (`cell_visits`) against a scripted walk on a real layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rllib_algos.metrics import VISITS, cell_visits, visit_cell
from shield.envs import make_env
from sweeps.visitation import visit_grid, visit_rows

LEFT, RIGHT, FORWARD = 0, 1, 2


def walk(actions: list[int]) -> list[dict]:
    """The step infos of `actions` on S9N1 layout 123 (start (1, 1), facing right)."""
    env = make_env("MiniGrid-LavaCrossingS9N1-v0", layout_seed=123)
    env.reset()
    return [env.step(a)[-1] for a in actions]


def test_each_step_counts_in_the_cell_it_was_taken_from():
    # right, right, turn to face down, down, down, turn back up, up
    infos = walk([FORWARD, FORWARD, RIGHT, FORWARD, FORWARD, LEFT, LEFT, FORWARD])
    counts = cell_visits(np.array([info["agent_pos"] for info in infos]))
    assert counts == {"1_1": 1, "2_1": 1, "3_1": 2, "3_2": 1, "3_3": 3}
    assert sum(counts.values()) == len(infos)


def test_walking_into_a_wall_stays_in_the_cell():
    infos = walk([LEFT, FORWARD, FORWARD])  # facing up from (1, 1): the wall
    assert cell_visits(np.array([info["agent_pos"] for info in infos])) == {"1_1": 3}


def test_counts_survive_the_trip_through_a_result_into_a_grid():
    counts = {"1_1": 5, "3_2": 2, "8_0": 1}
    result = {"env_runners": {"shield": {VISITS: counts}}}
    rows = pd.DataFrame(visit_rows("t1", result) + visit_rows("t2", {"env_runners": {}}))
    assert [visit_cell(k) for k in sorted(counts)] == list(zip(rows["x"], rows["y"], strict=True))
    grid = visit_grid(rows, ["t1"], (9, 9))
    assert grid[1, 1] == 5 and grid[2, 3] == 2 and grid[0, 8] == 1 and grid.sum() == 8  # [row y, column x]


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two settings on S9N1: seeds 123 and 789 for dqn, 123 for priors (and an unfinished 5)."""
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d"],
            "status": ["TERMINATED", "TERMINATED", "TERMINATED", "UNFINISHED"],
            "setting": ["dqn", "dqn", "priors rho=0.95 tau=0", "priors rho=0.95 tau=0"],
            "seed": [789, 123, 123, 5],
            "env": ["MiniGrid-LavaCrossingS9N1-v0"] * 4,
        }
    )
    visits = pd.DataFrame(
        {"trial_id": ["a", "b", "b", "c", "d"], "x": [1, 1, 7, 1, 1], "y": [1, 1, 6, 1, 1], "visits": [9, 90, 10, 1, 7]}
    )
    return trials, visits


def test_heat_maps_show_each_setting_on_the_first_shared_layout_on_one_scale():
    from sweeps.visitation import layout_seed
    from sweeps.visitation_plot import visitation_figure

    trials, visits = tables()
    assert layout_seed(trials) == 123  # finished by both settings (5 is unfinished)
    fig = visitation_figure(trials, visits, "ablation")
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 2  # one per setting
    assert {(image.norm.vmin, image.norm.vmax) for image in images} == {(0.1, 1.0)}  # shares of steps, one scale
    dqn = images[0].get_array()
    assert dqn[1, 1] == 0.9 and dqn[6, 7] == 0.1 and dqn.mask[0, 0]  # trial b: [row y, column x]; unvisited masked
    lava = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert len(lava) == 6  # the layout's lava row


def test_no_counts_no_figure():
    from sweeps.visitation_plot import visitation_figure

    trials, visits = tables()
    assert visitation_figure(trials, visits.iloc[0:0], "old run") is None

from __future__ import annotations

import pytest

from shield.envs import FORWARD, lava_ahead, make_env, shortest_path_action


@pytest.mark.parametrize("env_id", ["MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N3-v0"])
def test_shortest_path_policy_reaches_the_goal_without_lava_on_every_layout(env_id):
    env = make_env(env_id)
    for layout in range(20):
        env.reset(seed=layout)
        terminated = truncated = False
        steps = 0
        while not (terminated or truncated) and steps < 60:
            action = shortest_path_action(env)
            assert not (action == FORWARD and lava_ahead(env))
            _, reward, terminated, truncated, info = env.step(action)
            assert info["cost"] == 0.0
            steps += 1
        assert terminated and reward > 0, f"layout {layout}: no goal after {steps} steps"
        assert steps < 40  # a random walk takes hundreds

from __future__ import annotations

import pytest
import torch

from shield.envs import FORWARD, lava_ahead
from shield.oracle import lava_ahead_from_grid
from shield.pseudo_reward_env import PseudoRewardEnv


class SourceQ(torch.nn.Module):
    """A source task that knows lava: forward into lava is worth 0, everything else 1."""

    def forward(self, obs):
        q = torch.ones(len(obs), 7)
        q[:, FORWARD] = 1.0 - lava_ahead_from_grid(obs).float()
        return q


def walk_into_lava(env: PseudoRewardEnv, max_steps: int = 5000) -> float:
    """Random moves until a step into lava; return that step's pseudo-reward."""
    gen = torch.Generator().manual_seed(0)
    env.reset(seed=0)
    for _ in range(max_steps):
        action = FORWARD if lava_ahead(env.env) else int(torch.randint(0, 3, (1,), generator=gen))
        _, reward, terminated, truncated, info = env.step(action)
        if info["cost"] > 0:
            assert info["undesirable"]
            return reward
        if terminated or truncated:
            env.reset()
    raise AssertionError("never reached lava")


def test_reset_bootstrap_makes_lava_steps_negative_and_terminal_does_not():
    sources = [SourceQ(), SourceQ()]
    envs = ["MiniGrid-LavaCrossingS9N1-v0"]
    reset = walk_into_lava(PseudoRewardEnv(envs, "symbolic", sources, gamma=0.99, lava_bootstrap="reset"))
    terminal = walk_into_lava(PseudoRewardEnv(envs, "symbolic", sources, gamma=0.99, lava_bootstrap="terminal"))
    assert reset == pytest.approx(-0.99)  # Q(s, forward) = 0, minus γ · max Q(reset obs) = γ
    assert terminal == pytest.approx(0.0)


def test_reset_mode_continues_through_deaths_and_terminal_mode_ends_episodes():
    sources = [SourceQ()]
    envs = ["MiniGrid-LavaCrossingS9N1-v0"]
    for mode, ends in (("reset", False), ("terminal", True)):
        env = PseudoRewardEnv(envs, "symbolic", sources, lava_bootstrap=mode, horizon=50_000)
        env.reset(seed=1)
        for _ in range(5000):
            action = FORWARD if lava_ahead(env.env) else 0
            obs, _, terminated, truncated, info = env.step(action)
            if info["cost"] > 0:
                break
        assert info["cost"] > 0, f"{mode}: never stepped into lava"
        assert terminated == ends and not truncated


def test_unknown_lava_bootstrap_is_refused():
    with pytest.raises(ValueError, match="lava_bootstrap must be one of"):
        PseudoRewardEnv(["MiniGrid-LavaCrossingS9N1-v0"], "symbolic", [SourceQ()], lava_bootstrap="mask")


def test_layout_seed_fixes_every_episodes_layout_and_none_varies_it():
    envs = ["MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-LavaCrossingS9N2-v0"]

    def first_observations(layout_seed):
        env = PseudoRewardEnv(envs, "symbolic", [SourceQ()], lava_bootstrap="terminal", layout_seed=layout_seed)
        seen = {}
        for episode in range(40):
            obs, _ = env.reset(seed=episode)
            seen.setdefault(env.env.spec.id, set()).add(obs.tobytes())
        return seen

    fixed = first_observations(0)
    assert set(fixed) == set(envs)  # both tasks are drawn
    assert all(len(layouts) == 1 for layouts in fixed.values())  # one layout per task
    assert all(len(layouts) > 5 for layouts in first_observations(None).values())

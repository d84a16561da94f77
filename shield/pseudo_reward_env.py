"""The environment Q_p is learned in: the env's reward replaced by the pseudo-reward.

Each episode draws one of `env_ids`, on a random layout or, with `layout_seed`, on the
fixed layout the source DQNs were trained on. The reward of a step (s, a, s') is
`shield.priors.pseudo_reward` under the frozen source Q-networks.

The terminal-step subtlety: what follows a terminal step (lava or goal)?

- ``"reset"`` (default, the authors' behaviour): no terminal mask. At a terminal step
  or MiniGrid's time limit the environment
  continues into a fresh random layout and s' is that reset observation, both in the
  pseudo-reward and in Q_p's own DQN target. A lava step then scores
  Q_i(s, forward) − γ · max Q_i(s_reset) < 0, and Q_p compares dying (that penalty, then
  a new start) with living, instead of with an episode that simply ends. Episodes are
  truncated after `horizon` steps.
- ``"terminal"``: the textbook choice. Episodes end at a terminal step and nothing is
  bootstrapped (max Q_i(s', ·) := 0), so a lava step scores Σ p_i Q_i(s, forward) ≈ 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from shield.envs import make_env
from shield.priors import pseudo_reward

LAVA_BOOTSTRAP = ("reset", "terminal")


class PseudoRewardEnv(gym.Env):
    """Random layouts of `env_ids`, rewarded by the domain-prior pseudo-reward.

    Args:
        env_ids: environments drawn from, one per layout.
        obs: observation kind.
        source_qs: frozen source Q-networks, uint8 obs [B, ...] → [B, A].
        gamma: discount of the source tasks.
        lava_bootstrap: "reset" or "terminal" (see module docstring).
        horizon: steps after which a "reset" episode is truncated.
        layout_seed: every episode uses the layout drawn with this seed (None: a random
            layout per episode).
    """

    def __init__(
        self,
        env_ids: Sequence[str],
        obs: str,
        source_qs: Sequence[torch.nn.Module],
        gamma: float = 0.99,
        lava_bootstrap: str = "reset",
        horizon: int = 1000,
        layout_seed: int | None = None,
    ):
        if lava_bootstrap not in LAVA_BOOTSTRAP:
            raise ValueError(f"lava_bootstrap must be one of {list(LAVA_BOOTSTRAP)}, got {lava_bootstrap!r}")
        self.envs = [make_env(env_id, obs=obs) for env_id in env_ids]
        self.env = self.envs[0]
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.source_qs = list(source_qs)
        self.gamma = gamma
        self.lava_bootstrap = lava_bootstrap
        self.horizon = horizon
        self.layout_seed = layout_seed
        self._q_obs: torch.Tensor | None = None  # [N, A] source Q-values of the current obs
        self._t = 0

    @torch.no_grad()
    def _source_q(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(obs)[None]
        return torch.stack([q(x)[0] for q in self.source_qs])  # [N, A]

    def _new_layout(self) -> np.ndarray:
        self.env = self.envs[int(self.np_random.integers(len(self.envs)))]
        seed = self.layout_seed if self.layout_seed is not None else int(self.np_random.integers(2**31))
        obs, _ = self.env.reset(seed=seed)
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs = self._new_layout()
        self._q_obs, self._t = self._source_q(obs), 0
        return obs, {}

    def step(self, action: int):
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        if (terminated or truncated) and self.lava_bootstrap == "reset":
            obs, terminated = self._new_layout(), False  # continue into the reset observation
        q_obs = self._source_q(obs)
        q_next = torch.zeros_like(q_obs) if terminated else q_obs
        reward, undesirable = pseudo_reward(
            self._q_obs[:, None], torch.tensor([int(action)]), q_next[:, None], self.gamma
        )
        info.update(env_reward=env_reward, undesirable=bool(undesirable[0]))
        self._q_obs = q_obs
        if self.lava_bootstrap == "reset":
            truncated = self._t >= self.horizon
        return obs, float(reward[0]), terminated, truncated, info

"""A flat, prioritised transition buffer (numpy), the paper's replay at low overhead.

RLlib's `PrioritizedEpisodeReplayBuffer` builds an episode object per sampled row and
then runs the learner connector over them; on this project's small networks that costs
more than the gradient step. This buffer keeps transitions in preallocated arrays,
observations in their own dtype (uint8), and samples a train batch directly.

Prioritised replay (Schaul et al.): P(i) ∝ p_i^α, new transitions get the largest
priority seen, p_i = |δ_i| + ε after an update; importance weights
w_i = (N · P(i))^(−β) / max_j w_j.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


class TransitionReplay:
    """Ring buffer of `capacity` transitions (s, a, r, s', terminated)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.uint8, alpha: float = 0.5):
        self.capacity = int(capacity)
        self.alpha = float(alpha)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminateds = np.zeros(capacity, dtype=bool)
        self.priorities = np.zeros(capacity, dtype=np.float64)  # p_i^α
        self.max_priority = 1.0
        self.size = 0
        self.next = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminateds: np.ndarray,
    ) -> None:
        """Append n transitions (arrays with leading dimension n)."""
        n = len(actions)
        if n == 0:
            return
        if n > self.capacity:  # only the newest `capacity` survive anyway
            obs, actions, rewards = obs[-self.capacity :], actions[-self.capacity :], rewards[-self.capacity :]
            next_obs, terminateds = next_obs[-self.capacity :], terminateds[-self.capacity :]
            n = self.capacity
        idx = (self.next + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminateds[idx] = terminateds
        self.priorities[idx] = self.max_priority**self.alpha
        self.next = int((self.next + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, beta: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """(indices [B], batch) with keys obs, next_obs, actions, rewards, terminateds, weights."""
        p = self.priorities[: self.size]
        cdf = np.cumsum(p)
        total = cdf[-1]
        idx = np.searchsorted(cdf, rng.random(batch_size) * total, side="right")
        idx = np.minimum(idx, self.size - 1)
        probs = p[idx] / total
        min_prob = p.min() / total
        weights = (self.size * probs) ** (-beta) / (self.size * min_prob) ** (-beta)
        batch = {
            "obs": self.obs[idx],
            "next_obs": self.next_obs[idx],
            "actions": self.actions[idx],
            "rewards": self.rewards[idx],
            "terminateds": self.terminateds[idx],
            "weights": weights.astype(np.float32),
        }
        return idx, batch

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i = |δ_i| + ε for the sampled transitions."""
        priority = np.abs(np.asarray(td_errors, dtype=np.float64)) + EPS
        self.priorities[idx] = priority**self.alpha
        self.max_priority = max(self.max_priority, float(priority.max()))

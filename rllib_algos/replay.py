"""A flat, prioritised transition buffer (numpy), the paper's replay at low overhead.

RLlib's `PrioritizedEpisodeReplayBuffer` builds an episode object per sampled row and
then runs the learner connector over them; on this project's small networks that costs
more than the gradient step. This buffer keeps transitions in preallocated arrays,
observations in their own dtype (uint8), and samples a train batch directly.

Prioritised replay (Schaul et al.): P(i) ∝ p_i^α, new transitions get the largest
priority seen, p_i = |δ_i| + ε after an update; importance weights
w_i = (N · P(i))^(−β) / max_j w_j.

n-step returns (`NStepReturns`): a stored transition may span k ≤ n steps, with
r = Σ_{j<k} γ^j r_{t+j}, s' = s_{t+k} and ``n_steps`` = k, so the learner bootstraps with
γ^k. k < n only where the episode ended within n steps of t.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


class TransitionReplay:
    """Ring buffer of `capacity` transitions (s, a, r, s', terminated, n_steps)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.uint8, alpha: float = 0.5):
        self.capacity = int(capacity)
        self.alpha = float(alpha)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminateds = np.zeros(capacity, dtype=bool)
        self.n_steps = np.ones(capacity, dtype=np.float32)  # steps a transition spans (γ^n_steps bootstrap)
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
        n_steps: np.ndarray | None = None,
    ) -> None:
        """Append n transitions (arrays with leading dimension n); `n_steps` defaults to 1 each."""
        n = len(actions)
        if n == 0:
            return
        if n_steps is None:
            n_steps = np.ones(n, dtype=np.float32)
        if n > self.capacity:  # only the newest `capacity` survive anyway
            obs, actions, rewards = obs[-self.capacity :], actions[-self.capacity :], rewards[-self.capacity :]
            next_obs, terminateds = next_obs[-self.capacity :], terminateds[-self.capacity :]
            n_steps = n_steps[-self.capacity :]
            n = self.capacity
        idx = (self.next + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminateds[idx] = terminateds
        self.n_steps[idx] = n_steps
        self.priorities[idx] = self.max_priority**self.alpha
        self.next = int((self.next + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, beta: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """(indices [B], batch) with keys obs, next_obs, actions, rewards, terminateds, n_steps, weights."""
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
            "n_steps": self.n_steps[idx],
            "weights": weights.astype(np.float32),
        }
        return idx, batch

    def update_priorities(self, idx: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i = |δ_i| + ε for the sampled transitions."""
        priority = np.abs(np.asarray(td_errors, dtype=np.float64)) + EPS
        self.priorities[idx] = priority**self.alpha
        self.max_priority = max(self.max_priority, float(priority.max()))


class NStepReturns:
    """Turns consecutive chunks of episodes into n-step transitions (see module docstring).

    A sampled chunk ends every few steps, in the middle of its episode; its last n − 1
    steps wait here until the episode's next chunk brings the steps they need. An
    episode's final steps are emitted when its last chunk arrives (k < n there). With
    n = 1 nothing waits and every step is emitted as the 1-step transition it is.
    """

    MAX_PENDING = 10_000  # episodes; a bound, never reached while episodes end

    def __init__(self, n: int, gamma: float):
        if int(n) != n or n < 1:
            raise ValueError(f"n_step must be an integer >= 1, got {n!r}")
        self.n = int(n)
        self.gamma = float(gamma)
        self.pending: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(
        self,
        episode_id: str,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: bool,
        done: bool,
    ) -> tuple[np.ndarray, ...] | None:
        """One chunk: `observations` [T + 1, ...], `actions` [T], `rewards` [T]; `terminated`
        / `done`: the episode terminated / ended (terminated or truncated) at the chunk's end.

        Returns (obs, actions, rewards, next_obs, terminateds, n_steps), each [m], for the m
        transitions now complete, or None when there are none.
        """
        if episode_id in self.pending:  # its last observation is this chunk's first
            obs_before, actions_before, rewards_before = self.pending.pop(episode_id)
            observations = np.concatenate([obs_before[:-1], observations])
            actions = np.concatenate([actions_before, actions])
            rewards = np.concatenate([rewards_before, rewards])
        steps = len(actions)
        complete = steps if done else max(0, steps - self.n + 1)
        if complete < steps:
            if len(self.pending) >= self.MAX_PENDING:
                self.pending.pop(next(iter(self.pending)))
            self.pending[episode_id] = (observations[complete:], actions[complete:], rewards[complete:])
        if complete == 0:
            return None
        t = np.arange(complete)
        k = np.minimum(self.n, steps - t)
        returns = np.zeros(complete, dtype=np.float32)
        for j in range(self.n):
            live = j < k
            returns[live] += np.float32(self.gamma**j) * rewards[t[live] + j]
        terminateds = np.zeros(complete, dtype=bool)
        terminateds[t + k == steps] = bool(terminated)
        return (
            observations[:complete],
            actions[:complete],
            returns,
            observations[t + k],
            terminateds,
            k.astype(np.float32),
        )

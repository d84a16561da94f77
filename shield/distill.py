"""Q_p for pixels taught from a symbolic Q_p on the same states (plain PyTorch + gymnasium).

The paper learns the pixel Q_p like the symbolic one: four source DQNs on pixels, then a
DQN on their pseudo-reward. On a CPU that is hours of pixel DQN before any study starts.
Both inputs show the same states, so a symbolic Q_p (minutes to build) can teach a pixel
network instead: the student regresses the teacher's Q-values, all actions at once, on
pixel views of states the teacher rates.

- `paired_experience`: states from random moves and from the ε-greedy shortest-route
  policy on random layouts, each as the symbolic grid and as its pixel view;
- `distill_q`: the student's regression on the teacher's Q-values.

The action check (`Q_p(s,a) − mean Q_p(s,·) < tau`) reads the Q-values only through their
differences; a regression that matches the values matches those too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from shield.envs import PixelObs, make_env, shortest_path_action
from shield.pretrain_data import MOVES, batched_forward

DISTILL_EPSILON = 0.3  # random moves within the shortest-route walks
DISTILL_BATCH = 128
DISTILL_LR = 3e-4


@dataclass
class PairedStates:
    """N states seen both ways: symbolic uint8 [N, 9, 9, 3], pixels uint8 [N, 84, 84, 3]."""

    symbolic: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.symbolic)


def paired_experience(env_ids: Sequence[str], steps: int, seed: int, policy_share: float = 0.5) -> PairedStates:
    """`steps` states on random layouts of `env_ids` (one id drawn per episode).

    Each episode is either random moves or, with probability `policy_share`, the
    shortest-route policy with `DISTILL_EPSILON` random moves: random moves alone rarely
    leave the start's neighbourhood, and the agent a shield guards goes further.
    """
    rng = np.random.default_rng(seed)
    envs = {env_id: make_env(env_id, obs="symbolic") for env_id in env_ids}
    views = {env_id: PixelObs(env) for env_id, env in envs.items()}  # pixel views of the same env
    symbolic, pixels = [], []

    def start() -> tuple[str, np.ndarray, bool]:
        env_id = env_ids[rng.integers(len(env_ids))]
        obs, _ = envs[env_id].reset(seed=int(rng.integers(2**31)))
        return env_id, obs, rng.random() < policy_share

    env_id, obs, on_policy = start()
    for _ in range(steps):
        env = envs[env_id]
        symbolic.append(obs)
        pixels.append(views[env_id].observation(None))
        explore = not on_policy or rng.random() < DISTILL_EPSILON
        action = int(rng.choice(MOVES)) if explore else shortest_path_action(env)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env_id, obs, on_policy = start()
    return PairedStates(np.stack(symbolic), np.stack(pixels))


def distill_q(
    teacher: nn.Module,
    student: nn.Module,
    states: PairedStates,
    updates: int,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, float]:
    """Train `student` (pixels) to output `teacher`'s (symbolic) Q-values, in place.

    Mean squared error over all actions, Adam, `DISTILL_BATCH` states per update.

    Returns:
        {"loss_final": mean loss of the last 100 updates, "train_s": seconds,
        "teacher_std": the teacher's Q-value standard deviation (the loss's scale)}.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    targets = batched_forward(teacher, states.symbolic)  # [N, A]
    student.train().requires_grad_(True)
    optimiser = torch.optim.Adam(student.parameters(), lr=DISTILL_LR)
    losses: list[float] = []
    for step in range(1, updates + 1):
        index = rng.integers(len(states), size=DISTILL_BATCH)
        loss = nn.functional.mse_loss(student(torch.as_tensor(states.pixels[index])), targets[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if progress is not None and (step % 500 == 0 or step == updates):
            progress(step, float(np.mean(losses[-100:])))
    student.eval().requires_grad_(False)
    return {
        "loss_final": float(np.mean(losses[-100:])),
        "train_s": time.perf_counter() - start,
        "teacher_std": float(targets.std()),
    }

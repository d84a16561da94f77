"""Pretraining data and quality figures for the encoder and Q_p (plain PyTorch + gymnasium).

- `random_experience`: observations from random exploration of random (or fixed)
  layouts, labelled unsafe when they are the observation just before a lava death, with
  the ground truth (lava ahead) kept for evaluation.
- `train_autoencoder`: the contrastive auto-encoder (100 · reconstruction MSE +
  0.5 · contrastive loss, batches of 128 with up to half unsafe observations).

Their quality figures are in `shield.quality`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from shield.contrastive import DEFAULT_LATENT_LOSS, latent_loss
from shield.envs import DEFAULT_LAVA_LOOK, FORWARD, lava_ahead, make_env
from shield.networks import LATENT_DIM, AutoEncoder, prepare_obs

MOVES = np.array([0, 1, FORWARD])  # left, right, forward: the only actions that do anything
RECONSTRUCTION_WEIGHT = 100.0
CONTRASTIVE_WEIGHT = 0.5


@dataclass
class Experience:
    """N observations from exploration.

    obs: uint8 [N, H, W, C]; unsafe: bool [N], the observation just before a lava death
    (the training label); lava_ahead: bool [N], ground truth (for evaluation only);
    episode: int [N], the episode each observation belongs to.
    """

    obs: np.ndarray
    unsafe: np.ndarray
    lava_ahead: np.ndarray
    episode: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)


def random_experience(
    env_ids: Sequence[str],
    obs: str,
    steps: int,
    seed: int,
    keep_safe: float = 1.0,
    policy: Callable[[gym.Env], int] | None = None,
    epsilon: float = 1.0,
    layout_seed: int | None = None,
    lava_look: str = DEFAULT_LAVA_LOOK,
) -> Experience:
    """Moves on random layouts (an env id drawn per episode): uniformly random, or
    ε-greedy on `policy`'s values.

    Args:
        env_ids: environments to draw from.
        obs: observation kind.
        steps: environment steps to take.
        seed: seeds the layouts and the moves (different seeds, different layouts).
        keep_safe: fraction of observations that are not unsafe to keep (saves memory on
            pixels; every unsafe observation is kept).
        policy: the environment → the policy's move (e.g. `shield.envs.shortest_path_action`);
            None: random moves only.
        epsilon: with a policy, the probability of a random move instead of the policy's.
        layout_seed: every episode on this one layout (default: a new one per episode).
        lava_look: how lava is drawn (pixels; `shield.envs.LAVA_LOOKS`).
    """
    rng = np.random.default_rng(seed)
    envs = {env_id: make_env(env_id, obs=obs, layout_seed=layout_seed, lava_look=lava_look) for env_id in env_ids}
    rows: list[np.ndarray] = []
    unsafe: list[bool] = []
    ahead: list[bool] = []
    episodes: list[int] = []
    episode = 0
    env = envs[env_ids[rng.integers(len(env_ids))]]
    current, _ = env.reset(seed=int(rng.integers(2**31)))
    for _ in range(steps):
        current_ahead = lava_ahead(env)
        explore = policy is None or rng.random() < epsilon
        action = int(rng.choice(MOVES)) if explore else policy(env)
        nxt, _, terminated, truncated, info = env.step(action)
        died = info["cost"] > 0
        if died or rng.random() < keep_safe:
            rows.append(current)
            unsafe.append(died)
            ahead.append(current_ahead)
            episodes.append(episode)
        current = nxt
        if terminated or truncated:
            episode += 1
            env = envs[env_ids[rng.integers(len(env_ids))]]
            current, _ = env.reset(seed=int(rng.integers(2**31)))
    return Experience(np.stack(rows), np.array(unsafe), np.array(ahead), np.array(episodes))


@torch.no_grad()
def batched_forward(network: torch.nn.Module, obs: np.ndarray, batch: int = 512) -> torch.Tensor:
    """`network` on uint8 observations [N, H, W, C], `batch` at a time: [N, ...]
    (latents of an encoder, Q-values of Q_p)."""
    return torch.cat([network(torch.as_tensor(obs[i : i + batch])) for i in range(0, len(obs), batch)])


def train_autoencoder(
    data: Experience,
    obs_kind: str,
    margin: float,
    steps: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    latent_dim: int = LATENT_DIM,
    progress: Callable[[int, float], None] | None = None,
    loss_name: str = DEFAULT_LATENT_LOSS,
) -> tuple[AutoEncoder, dict[str, float]]:
    """Train f_θ and g_φ on 100 · MSE + 0.5 · latent loss (`shield.contrastive`: the
    paper's ``margin`` loss, or ``triplet`` or ``supcon``) at `margin`.

    Each batch draws up to half its rows from the unsafe observations, the rest from all.

    Returns:
        (auto-encoder in eval mode, {"loss_final", "reconstruction_final",
        "contrastive_final", "train_s"}).
    """
    separate = latent_loss(loss_name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AutoEncoder(obs_kind, latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    unsafe_idx = np.flatnonzero(data.unsafe)
    n_unsafe = min(batch_size // 2, len(unsafe_idx))
    start = time.perf_counter()
    recon = contrast = loss = torch.zeros(())
    for step in range(steps):
        idx = np.concatenate(
            [
                rng.choice(unsafe_idx, n_unsafe, replace=len(unsafe_idx) < n_unsafe) if n_unsafe else [],
                rng.integers(len(data), size=batch_size - n_unsafe),
            ]
        ).astype(int)
        obs = torch.as_tensor(data.obs[idx])
        z, reconstruction = model(obs)
        recon = torch.nn.functional.mse_loss(reconstruction, prepare_obs(obs, obs_kind))
        contrast = separate(z, torch.as_tensor(data.unsafe[idx]), margin)
        loss = RECONSTRUCTION_WEIGHT * recon + CONTRASTIVE_WEIGHT * contrast
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress is not None and (step + 1) % max(1, steps // 10) == 0:
            progress(step + 1, loss.item())
    model.eval().requires_grad_(False)
    return model, {
        "loss_final": loss.item(),
        "reconstruction_final": recon.item(),
        "contrastive_final": contrast.item(),
        "train_s": time.perf_counter() - start,
    }

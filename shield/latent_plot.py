"""A picture of an encoder's latent space: 2-D PCA of held-out latents, by ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from shield.pretrain_data import Experience, batched_forward


@torch.no_grad()
def plot_latents(
    encoder: torch.nn.Module, evaluation: dict[str, Experience], path: Path, title: str, per_env: int = 1500
) -> None:
    """2-D PCA of the latents of held-out states (one panel per environment, one projection
    for all), coloured by ground-truth safety (lava ahead or not)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry

    fig = Figure(figsize=(5 * len(evaluation), 4.5))
    axes = fig.subplots(1, len(evaluation), squeeze=False)
    reference = None
    for ax, (env_id, data) in zip(axes[0], evaluation.items(), strict=True):
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(data))[:per_env]
        idx = np.union1d(idx, np.flatnonzero(data.lava_ahead)[:per_env])
        z = batched_forward(encoder, data.obs[idx])
        if reference is None:  # one projection for every panel
            mean = z.mean(dim=0)
            _, _, V = torch.pca_lowrank(z - mean, q=2, center=False)
            reference = (mean, V[:, :2])
        xy = ((z - reference[0]) @ reference[1]).numpy()
        ahead = data.lava_ahead[idx]
        ax.scatter(*xy[~ahead].T, s=4, alpha=0.4, label="safe (no lava ahead)")
        ax.scatter(*xy[ahead].T, s=6, alpha=0.7, c="tab:red", label="unsafe (lava ahead)")
        ax.set_title(env_id.replace("MiniGrid-", ""))
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Latent space, held-out layouts: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)

"""Pictures of an encoder: its latent space (2-D PCA, by ground truth) and its operating points."""

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


def plot_operating_points(quality: dict[str, dict], path: Path, title: str) -> None:
    """Flag rate (left) and precision (right) of the state check against d_max, per
    environment: on random exploration (solid) and, where measured, on the on-policy
    states with the default buffer (dashed). quality: {env_id: `shield.quality.encoder_quality`
    figures}."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6))
    axes = fig.subplots(1, 2)
    for (env_id, figures), color in zip(quality.items(), ("C0", "C1", "C2", "C3", "C4"), strict=False):
        name = env_id.replace("MiniGrid-", "").replace("-v0", "")
        lines = [(figures["operating_points"]["d_max"], f"{name}, random exploration", "-")]
        if "on_policy" in figures:  # the default buffer's on-policy figures
            lines.append((figures["on_policy"]["distinct"]["d_max"], f"{name}, on-policy (distinct buffer)", "--"))
        for points, label, style in lines:
            d_max = [float(d) for d in points]
            for ax, key in zip(axes, ("flag_rate", "precision"), strict=True):
                ax.plot(d_max, [points[d][key] for d in points], style, color=color, marker="o", ms=3, label=label)
    for ax, key, target in zip(axes, ("flag rate", "precision"), ("≤ 0.2", "≥ 0.5"), strict=True):
        ax.set_xlabel("d_max (latent units)")
        ax.set_ylabel(f"{key} (target {target})")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].axhline(0.2, color="0.5", ls=":", lw=1)
    axes[1].axhline(0.5, color="0.5", ls=":", lw=1)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"State check: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)

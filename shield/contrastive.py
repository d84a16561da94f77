"""The contrastive loss that separates safe from unsafe latents."""

from __future__ import annotations

import torch


def contrastive_loss(z: torch.Tensor, unsafe: torch.Tensor, margin: float) -> torch.Tensor:
    """Margin contrastive loss over all ordered pairs (i, j), i ≠ j, of a batch.

    L = ½ · [ mean_{same label} ‖z_i − z_j‖² + mean_{different label} max(0, m − ‖z_i − z_j‖²) ]

    The margin m (α in the studies) bounds the *squared* distance. A term with no pairs
    (a batch of one label) contributes 0.

    Args:
        z: latents [B, latent_dim].
        unsafe: labels [B], bool (True = the observation just before a lava death).
        margin: α > 0, in squared latent units.

    Returns:
        scalar loss.
    """
    sq_dist = torch.cdist(z, z).pow(2)  # [B, B]
    unsafe = unsafe.bool()
    same = unsafe[:, None] == unsafe[None, :]
    off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    same_pairs = same & off_diagonal
    diff_pairs = ~same
    pull = sq_dist[same_pairs].mean() if same_pairs.any() else z.new_zeros(())
    push = (margin - sq_dist[diff_pairs]).clamp(min=0).mean() if diff_pairs.any() else z.new_zeros(())
    return 0.5 * (pull + push)

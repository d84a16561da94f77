"""The latent losses that separate safe from unsafe latents: the paper's and two others.

Every loss takes latents z [B, latent_dim], labels `unsafe` [B] (bool) and the margin α
(squared latent units), and returns a scalar. α sets each loss's scale in the same units,
so that one ``d_max`` reads alike across them:

- ``margin`` (the paper's): pull same-label pairs together, push different-label pairs
  until their squared distance reaches α;
- ``triplet``: for every anchor, same-label positive and different-label negative, the
  negative's squared distance must exceed the positive's by α (batch-all triplets);
- ``supcon``: supervised contrastive (Khosla et al., 2020) with the similarity
  −‖z_i − z_j‖² / α on the raw latents (not normalised: the state check measures raw
  Euclidean distances), so α is its temperature.

A loss with no pairs (or no triplets) of the kind it needs in a batch contributes 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LATENT_LOSSES: tuple[str, ...] = ("margin", "triplet", "supcon")
DEFAULT_LATENT_LOSS = "margin"


def _pairs(z: torch.Tensor, unsafe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(squared distances [B, B], same-label pairs i ≠ j [B, B], different-label pairs [B, B])."""
    sq_dist = torch.cdist(z, z).pow(2)
    unsafe = unsafe.bool()
    same = unsafe[:, None] == unsafe[None, :]
    off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    return sq_dist, same & off_diagonal, ~same


def contrastive_loss(z: torch.Tensor, unsafe: torch.Tensor, margin: float) -> torch.Tensor:
    """Margin contrastive loss over all ordered pairs (i, j), i ≠ j, of a batch.

    L = ½ · [ mean_{same label} ‖z_i − z_j‖² + mean_{different label} max(0, m − ‖z_i − z_j‖²) ]

    The margin m (α in the studies) bounds the *squared* distance.

    Args:
        z: latents [B, latent_dim].
        unsafe: labels [B], bool (True = the observation just before a lava death).
        margin: α > 0, in squared latent units.

    Returns:
        scalar loss.
    """
    sq_dist, same_pairs, diff_pairs = _pairs(z, unsafe)
    pull = sq_dist[same_pairs].mean() if same_pairs.any() else z.new_zeros(())
    push = (margin - sq_dist[diff_pairs]).clamp(min=0).mean() if diff_pairs.any() else z.new_zeros(())
    return 0.5 * (pull + push)


def triplet_loss(z: torch.Tensor, unsafe: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-all triplet loss: mean over (a, p, n) with label(p) = label(a), p ≠ a,
    label(n) ≠ label(a) of max(0, ‖z_a − z_p‖² − ‖z_a − z_n‖² + α). Memory [B, B, B]."""
    sq_dist, same_pairs, diff_pairs = _pairs(z, unsafe)
    valid = same_pairs[:, :, None] & diff_pairs[:, None, :]  # [a, p, n]
    if not valid.any():
        return z.new_zeros(())
    gaps = sq_dist[:, :, None] - sq_dist[:, None, :] + margin  # d(a, p) − d(a, n) + α
    return gaps[valid].clamp(min=0).mean()


def supcon_loss(z: torch.Tensor, unsafe: torch.Tensor, margin: float) -> torch.Tensor:
    """Supervised contrastive loss with similarity s_ij = −‖z_i − z_j‖² / α: the mean over
    anchors with a positive of −mean_{p} log(exp s_ap / Σ_{k ≠ a} exp s_ak)."""
    sq_dist, same_pairs, _ = _pairs(z, unsafe)
    has_positive = same_pairs.any(dim=1)
    if not has_positive.any():
        return z.new_zeros(())
    logits = (-sq_dist / margin).masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    per_anchor = -(log_prob.masked_fill(~same_pairs, 0.0).sum(dim=1)) / same_pairs.sum(dim=1).clamp(min=1)
    return per_anchor[has_positive].mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "margin": contrastive_loss,
    "triplet": triplet_loss,
    "supcon": supcon_loss,
}


def latent_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """The loss called `name`; ValueError naming the choices otherwise."""
    if name not in LOSSES:
        raise ValueError(f"latent loss must be one of {list(LATENT_LOSSES)}, got {name!r}")
    return LOSSES[name]

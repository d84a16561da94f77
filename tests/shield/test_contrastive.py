from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.contrastive import LATENT_LOSSES, contrastive_loss, latent_loss, supcon_loss, triplet_loss


def direct(z: torch.Tensor, unsafe: list[bool], margin: float) -> float:
    """The paper's formula (docs/method.md) evaluated pair by pair."""
    same, different = [], []
    for i, j in itertools.permutations(range(len(z)), 2):
        sq = float(((z[i] - z[j]) ** 2).sum())
        (same if unsafe[i] == unsafe[j] else different).append(sq)
    pull = sum(same) / len(same) if same else 0.0
    push = sum(max(0.0, margin - d) for d in different) / len(different) if different else 0.0
    return 0.5 * (pull + push)


def test_matches_the_formula_on_a_small_batch():
    torch.manual_seed(0)
    z = torch.randn(6, 50, dtype=torch.float64) * 0.3
    unsafe = [True, False, False, True, False, False]
    got = contrastive_loss(z, torch.tensor(unsafe), margin=10.0)
    assert got.item() == pytest.approx(direct(z, unsafe, 10.0), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=2, max_size=8),
    scale=st.floats(0.01, 3.0),
    margin=st.floats(0.1, 20.0),
    seed=st.integers(0, 1000),
)
def test_matches_the_formula_on_random_batches(labels, scale, margin, seed):
    z = torch.randn(len(labels), 5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * scale
    got = contrastive_loss(z, torch.tensor(labels), margin)
    assert got.item() == pytest.approx(direct(z, labels, margin), rel=1e-7, abs=1e-9)


def test_margin_is_on_the_squared_distance():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # distance 2, squared 4
    unsafe = torch.tensor([True, False])
    assert contrastive_loss(z, unsafe, margin=4.0).item() == pytest.approx(0.0)
    assert contrastive_loss(z, unsafe, margin=5.0).item() == pytest.approx(0.5)


def test_gradient_pulls_same_labels_together():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0]], requires_grad=True)
    contrastive_loss(z, torch.tensor([True, True]), margin=10.0).backward()
    assert z.grad[0, 0] < 0 < z.grad[1, 0]


# The other latent losses, on a constructed batch: two safe latents at 0 and 1, one unsafe at
# 3 on a line (squared distances: safe-safe 1, unsafe to them 9 and 4).
LINE = torch.tensor([[0.0], [1.0], [3.0]])
LABELS = torch.tensor([False, False, True])


def test_triplet_loss_by_hand():
    # anchors with a positive: 0 (p 1, n 2: 1 - 9 + a) and 1 (p 0, n 2: 1 - 4 + a)
    assert triplet_loss(LINE, LABELS, margin=2.0).item() == pytest.approx(0.0)  # both gaps < 0
    assert triplet_loss(LINE, LABELS, margin=5.0).item() == pytest.approx((0.0 + 2.0) / 2)
    assert triplet_loss(LINE, LABELS, margin=10.0).item() == pytest.approx((2.0 + 7.0) / 2)
    assert triplet_loss(LINE, torch.tensor([True, True, True]), margin=10.0).item() == 0.0  # no negatives


def test_triplet_gradient_pushes_the_unsafe_latent_away_and_pulls_the_safe_ones_together():
    z = LINE.clone().requires_grad_(True)
    triplet_loss(z, LABELS, margin=10.0).backward()
    assert z.grad[2, 0] < 0  # descending moves the unsafe latent further right, away
    assert 0 < z.grad[0, 0] < z.grad[1, 0]  # and both safe ones left, the nearer one more: closer together


def test_supcon_loss_by_hand():
    def expected(margin: float) -> float:
        s = -torch.tensor([[0.0, 1.0, 9.0], [1.0, 0.0, 4.0], [9.0, 4.0, 0.0]]) / margin
        terms = []
        for a in (0, 1):  # the anchors with a positive (the unsafe one has none)
            p, others = 1 - a, [k for k in range(3) if k != a]
            terms.append(-(s[a, p] - torch.logsumexp(s[a, others], dim=0)))
        return float(sum(terms) / 2)

    for margin in (1.0, 10.0):
        assert supcon_loss(LINE, LABELS, margin).item() == pytest.approx(expected(margin), rel=1e-6)
    assert supcon_loss(LINE, torch.zeros(3, dtype=torch.bool), 1.0) > 0  # all one label: still pulls together


def test_supcon_gradient_pushes_the_unsafe_latent_away_and_pulls_the_safe_ones_together():
    z = LINE.clone().requires_grad_(True)
    supcon_loss(z, LABELS, margin=10.0).backward()
    assert z.grad[2, 0] < 0 and 0 < z.grad[0, 0] < z.grad[1, 0]


def test_every_latent_loss_is_named_and_an_unknown_one_is_refused():
    assert latent_loss("margin") is contrastive_loss and set(LATENT_LOSSES) == {"margin", "triplet", "supcon"}
    with pytest.raises(ValueError, match=r"latent loss must be one of \['margin', 'triplet', 'supcon'\]"):
        latent_loss("byol")

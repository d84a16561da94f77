from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.contrastive import contrastive_loss


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

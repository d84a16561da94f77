from __future__ import annotations

import pytest
import torch

from shield.unsafe_buffer import UnsafeBuffer


def brute_force(z: torch.Tensor, rows: list[torch.Tensor], k: int) -> torch.Tensor:
    out = []
    for zi in z:
        dists = sorted(float(torch.linalg.norm(zi - r)) for r in rows)
        kk = min(k, len(rows))
        out.append(sum(dists[:kk]) / kk)
    return torch.tensor(out)


@pytest.mark.parametrize("n_added", [1, 2, 4, 7, 13, 30])
def test_distance_matches_brute_force_over_stored_rows_only(n_added):
    torch.manual_seed(n_added)
    buffer = UnsafeBuffer(capacity=10, latent_dim=4)
    added = [torch.randn(4) for _ in range(n_added)]
    for row in added:
        buffer.add(row[None])
    stored = added[-10:]  # the ring keeps the last `capacity`
    assert buffer.stored == len(stored)
    z = torch.randn(5, 4)
    for k in (1, 3, 10, 50):
        torch.testing.assert_close(buffer.distance(z, k), brute_force(z, stored, k))


def test_inactive_until_more_than_three_stored_and_empty_distance_is_infinite():
    buffer = UnsafeBuffer(capacity=100, latent_dim=3)
    assert torch.isinf(buffer.distance(torch.zeros(2, 3), k=10)).all()
    for i in range(4):
        assert not buffer.active
        buffer.add(torch.full((1, 3), float(i)))
    assert buffer.active


def test_state_restores_the_rows_and_the_write_position():
    buffer = UnsafeBuffer(capacity=3, latent_dim=2)
    buffer.add(torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))  # full: [3, 1, 2], next row 1
    state = buffer.get_state()
    buffer.add(torch.tensor([[9.0, 9.0]]))  # after the snapshot: not in it
    restored = UnsafeBuffer(capacity=3, latent_dim=2)
    restored.set_state(state)
    assert (restored.stored, restored.next) == (3, 1)
    assert restored.rows.tolist() == [[3.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    restored.add(torch.tensor([[5.0, 0.0]]))  # overwrites the oldest, 1
    assert sorted(restored.rows[:, 0].tolist()) == [2.0, 3.0, 5.0]
    assert float(restored.distance(torch.tensor([[1.0, 0.0]]), k=1)) == 1.0


def test_a_state_of_another_shape_is_refused_with_both_shapes():
    state = UnsafeBuffer(capacity=3, latent_dim=2).get_state()
    with pytest.raises(ValueError, match=r"unsafe buffer of shape \(3, 2\), expected \(4, 2\)"):
        UnsafeBuffer(capacity=4, latent_dim=2).set_state(state)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="buffer_size must be >= 1"):
        UnsafeBuffer(capacity=0, latent_dim=2)


def test_distinct_rule_skips_repeats_and_keeps_what_a_ring_would_overwrite():
    ring, distinct = UnsafeBuffer(3, 2), UnsafeBuffer(3, 2, rule="distinct")
    a, b, c = torch.tensor([[0.0, 0.0]]), torch.tensor([[5.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    for row in (a, b, c, c, c):  # the same death three times
        ring.add(row)
        distinct.add(row)
    assert distinct.stored == 3 and ring.stored == 3
    assert sorted(map(tuple, distinct.rows.tolist())) == [(0.0, 0.0), (0.0, 5.0), (5.0, 0.0)]
    assert ring.rows.tolist().count([0.0, 5.0]) == 3  # the ring holds c three times, a and b gone
    # a state at c: mean of the 3 nearest is 0 in the ring, (0 + 5 + 5·√2) / 3 in distinct
    z = torch.tensor([[0.0, 5.0]])
    assert float(ring.distance(z, 3)) == 0.0
    assert float(distinct.distance(z, 3)) == pytest.approx((5 + 50**0.5) / 3)


def test_distinct_rule_stores_rows_apart_by_more_than_the_tolerance():
    buffer = UnsafeBuffer(10, 1, rule="distinct")
    buffer.add(torch.tensor([[0.0], [1e-7], [1e-3], [1e-3]]))
    assert buffer.stored == 2


def test_unknown_buffer_rule_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"buffer_rule must be one of \['ring', 'distinct'\]"):
        UnsafeBuffer(3, 2, rule="set")

"""`FrozenMemo`: a frozen network's outputs, computed once per distinct observation."""

from __future__ import annotations

import torch
from torch import nn

from shield.memo import FrozenMemo
from shield.networks import Encoder


class Counting(nn.Module):
    """Sums each observation's values; records the batch sizes it ran on."""

    def __init__(self):
        super().__init__()
        self.calls: list[int] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(obs))
        return obs.flatten(1).float().sum(dim=1, keepdim=True)


def test_outputs_equal_the_network_on_each_observation_alone():
    torch.manual_seed(0)
    for kind, shape, high in (("symbolic", (9, 9, 3), 11), ("pixels", (84, 84, 3), 256)):
        encoder = Encoder(kind).eval()
        obs = torch.randint(0, high, (6, *shape), dtype=torch.uint8)
        obs[4] = obs[1]  # a repeat inside the batch
        memo = FrozenMemo(encoder)
        with torch.no_grad():
            alone = torch.cat([encoder(obs[i : i + 1]) for i in range(len(obs))])
        assert torch.equal(memo(obs), alone)
        assert len(memo) == 5
        assert torch.equal(memo(obs.flip(0)), alone.flip(0))  # looked up, in the new order


def test_each_distinct_observation_runs_once_and_a_full_memo_starts_over():
    net = Counting()
    memo = FrozenMemo(net, capacity=3)
    a, b, c, d = (torch.full((1, 2, 2), v, dtype=torch.uint8) for v in (1, 2, 3, 4))
    out = memo(torch.cat([a, b, a, b]))
    assert out.squeeze(1).tolist() == [4.0, 8.0, 4.0, 8.0] and net.calls == [1, 1]
    memo(torch.cat([b, c]))
    assert net.calls == [1, 1, 1] and len(memo) == 3
    assert memo(d).item() == 16.0 and len(memo) == 1  # full: cleared, then d stored
    memo(a)
    assert net.calls == [1, 1, 1, 1, 1]

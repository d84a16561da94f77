"""Memoised outputs of a frozen network, keyed by the observation's bytes.

The shield's encoder f_θ and prior Q-network Q_p never change during training, and an
agent on one crossing layout sees a few hundred distinct observations, so after the
first episodes nearly every state check and action check would recompute an output
already computed. `FrozenMemo` computes each distinct observation once, alone (a batch of
one), and looks it up afterwards.

Computing alone makes an output a function of its observation only: batched convolutions
give results that differ in the last bits with the batch's other rows (≈1e-8 here), which
would make a memoised value depend on which batch first saw the observation, and a
process restored from a checkpoint (empty memo) decide differently from the one that
wrote it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

# Observations larger than this are keyed by a 128-bit digest (84×84×3 pixels: 21 KB per
# key otherwise); smaller ones (9×9×3 symbolic: 243 bytes) by their bytes.
_DIGEST_ABOVE_BYTES = 1024
CAPACITY = 65_536  # distinct observations kept; the memo starts over when full


def _key(row: np.ndarray) -> bytes:
    data = row.tobytes()
    return hashlib.blake2b(data, digest_size=16).digest() if len(data) > _DIGEST_ABOVE_BYTES else data


class FrozenMemo:
    """``memo(obs)`` equals ``torch.cat([net(obs[i:i+1]) for i in range(B)])``.

    Args:
        net: a frozen network, uint8 observations [B, ...] → outputs [B, D].
        capacity: distinct observations kept (the memo is cleared when full).
    """

    def __init__(self, net: nn.Module, capacity: int = CAPACITY):
        self.net = net
        self.capacity = int(capacity)
        self.outputs: dict[bytes, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.outputs)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """Outputs [B, D] of observations [B, ...] (on `obs`'s device)."""
        rows = obs.detach().cpu().numpy()
        found = []
        for i, row in enumerate(rows):
            key = _key(row)
            output = self.outputs.get(key)
            if output is None:
                if len(self.outputs) >= self.capacity:
                    self.outputs.clear()
                output = self.outputs[key] = self.net(obs[i : i + 1])[0]
            found.append(output)
        return torch.stack(found)

"""The buffer of unsafe-state embeddings and the latent distance D (the state check's memory).

Two rules for what it keeps (`BUFFER_RULES`):

- "ring" (the paper's): the last `capacity` embeddings, repeats included;
- "distinct": the last `capacity` *different* embeddings: an embedding within
  `DISTINCT_TOL` of a stored row is not stored again. Once the agent has learned, its
  lava deaths come from exploration at the few lava-side cells of its own path, the same
  observations again and again; in a ring they crowd out the rest, so that the k nearest
  rows of a state beside that path are all one state and D falls towards the distance to
  it. docs/method.md, "The state check during training", has the measurement.
"""

from __future__ import annotations

import torch

from shield.settings import BUFFER_RULES

DISTINCT_TOL = 1e-6  # latent units: equal observations give equal embeddings (the memo), closer than this
MIN_STORED = 3  # the state check is active once *more than* this many rows are stored
_CHUNK = 1024  # latents per distance pass: at most [1024, capacity, latent_dim] floats at once


class UnsafeBuffer:
    """The last `capacity` unsafe embeddings, each [latent_dim], kept by `rule`
    ("ring" or "distinct", see the module docstring).

    A plain class, not an `nn.Module`: nothing in it is trained, and a learner's weight
    synchronisation must never overwrite what an acting process stored. The buffer starts
    empty in every run and lives with the process that acts; a trial's checkpoint carries
    it (`get_state`, through `shield.shield.Shield.get_state`).
    """

    def __init__(self, capacity: int, latent_dim: int, rule: str = "ring"):
        if capacity < 1:
            raise ValueError(f"buffer_size must be >= 1, got {capacity}")
        if rule not in BUFFER_RULES:
            raise ValueError(f"buffer_rule must be one of {list(BUFFER_RULES)}, got {rule!r}")
        self.capacity = int(capacity)
        self.rule = rule
        self.rows = torch.zeros(capacity, latent_dim)  # [capacity, latent_dim]; the first `stored` hold embeddings
        self.stored = 0  # rows filled so far, at most `capacity`
        self.next = 0  # index the next row is written to

    @property
    def active(self) -> bool:
        """The state check runs only once more than 3 embeddings are stored."""
        return self.stored > MIN_STORED

    def get_state(self) -> dict:
        """{"rows": a copy of the rows [capacity, latent_dim], "stored", "next"}: what its
        future distances and writes depend on."""
        return {"rows": self.rows.clone(), "stored": self.stored, "next": self.next}

    def set_state(self, state: dict) -> None:
        """Restore `get_state`'s output (a buffer of the same capacity and latent_dim)."""
        if state["rows"].shape != self.rows.shape:
            raise ValueError(f"unsafe buffer of shape {tuple(state['rows'].shape)}, expected {tuple(self.rows.shape)}")
        self.rows.copy_(state["rows"])
        self.stored, self.next = int(state["stored"]), int(state["next"])

    def add(self, z: torch.Tensor) -> None:
        """Append embeddings [n, latent_dim], overwriting the oldest when full; under
        "distinct", skip each one within `DISTINCT_TOL` of a stored row."""
        for row in z.detach().reshape(-1, self.rows.shape[1]):
            if self.rule == "distinct" and self.stored and self.holds(row):
                continue
            self.rows[self.next] = row
            self.next = (self.next + 1) % self.capacity
            self.stored = min(self.stored + 1, self.capacity)

    def holds(self, row: torch.Tensor) -> bool:
        """Whether a stored row lies within `DISTINCT_TOL` of `row` [latent_dim]."""
        gaps = torch.linalg.vector_norm(self.rows[: self.stored] - row, dim=-1)
        return bool((gaps <= DISTINCT_TOL).any())

    def distance(self, z: torch.Tensor, k: int) -> torch.Tensor:
        """D(z): mean of the k' = min(k, stored) smallest L2 distances to stored rows.

        Args:
            z: latents [B, latent_dim].
            k: neighbours averaged (k ≥ 1).

        Returns:
            D [B]; +inf for every row while the buffer is empty.
        """
        if self.stored == 0:
            return torch.full((len(z),), float("inf"), device=z.device)
        rows, k = self.rows[: self.stored], min(k, self.stored)
        # Differences, not `torch.cdist`: about 3x faster for a step's 8 latents, and each
        # row's D depends on that row alone (cdist's matrix-product path does not).
        parts = []
        for chunk in z.split(_CHUNK):
            dist = torch.linalg.vector_norm(chunk[:, None, :] - rows[None], dim=-1)  # [b, stored]
            parts.append(dist.topk(k, dim=1, largest=False).values.mean(dim=1))
        return torch.cat(parts)

"""The state check's threshold: fixed, relative to the margin, adaptive, or capped.

The capped rule keeps ``d_max`` but never lets the check flag more than ``flag_rate`` of
the states it recently ran on: its threshold is the smaller of ``d_max`` and the
``flag_rate``-quantile of the last `STATE_WINDOW` checked distances (`CappedThreshold`).

The adaptive rule answers the paper's open question (can a threshold set from what the
agent has seen do better than a fixed one?) with two streams of latent distances D:

- the D of each state that preceded a lava death, measured when the death is recorded
  (against the unsafe embeddings stored before it): how close to known danger the agent
  really was when it died; the last `UNSAFE_WINDOW` are kept;
- the D of every state the state check ran on; the last `STATE_WINDOW` are kept.

Rule: a lower bound, the ``recall``-quantile of the pre-death distances (below it, a
fraction ``recall`` of such states would have been flagged), and an upper bound, the
``flag_rate``-quantile of the checked states' distances (below it, a fraction
``flag_rate`` of states would be flagged). The threshold is their midpoint, the middle of
the gap between where the agent died and where it mostly is; when the bounds cross
(no gap: the encoder does not separate the two), the upper bound, so that at most
``flag_rate`` of states are flagged. Before any state has been checked, the lower bound.
Until `MIN_UNSAFE` pre-death distances are known it keeps its start value (``d_max``). It
is recomputed after each recorded death and every `UPDATE_EVERY` checked batches.

The midpoint, not the lower bound alone (capped by the upper): on S9N1 that bound settles
at 0.17–0.63, under most lava-ahead states' distances, and lets more agents into lava than
a fixed d_max (docs/method.md).
"""

from __future__ import annotations

import math

import numpy as np

UNSAFE_WINDOW = 100
STATE_WINDOW = 10_000
MIN_UNSAFE = 5
UPDATE_EVERY = 50


class Ring:
    """The last `capacity` values of a stream of floats."""

    def __init__(self, capacity: int):
        self.values = np.empty(capacity)
        self.size = 0
        self.next = 0

    def extend(self, values: np.ndarray) -> None:
        capacity = len(self.values)
        values = np.asarray(values, dtype=float).ravel()[-capacity:]
        self.values[(self.next + np.arange(len(values))) % capacity] = values
        self.next = (self.next + len(values)) % capacity
        self.size = min(self.size + len(values), capacity)

    def kept(self) -> np.ndarray:
        """The kept values (in ring order)."""
        return self.values[: self.size]

    def quantile(self, q: float | list[float]) -> float | np.ndarray:
        return np.quantile(self.kept(), q)


class AdaptiveThreshold:
    """The adaptive rule of the module docstring.

    Args:
        start: the threshold until enough deaths are seen (latent units).
        recall: fraction of recent pre-death states to flag, in (0, 1].
        flag_rate: the most of recently checked states to flag, in (0, 1].
    """

    def __init__(self, start: float, recall: float, flag_rate: float):
        self.start, self.recall, self.flag_rate = float(start), float(recall), float(flag_rate)
        self.unsafe = Ring(UNSAFE_WINDOW)
        self.states = Ring(STATE_WINDOW)
        self.value = self.start
        self._batches = 0

    def observe_states(self, D: np.ndarray) -> None:
        """Distances [B] of states the check ran on (infinite ones are ignored)."""
        D = np.asarray(D, dtype=float)
        self.states.extend(D[np.isfinite(D)])
        self._batches += 1
        if self._batches % UPDATE_EVERY == 0:
            self.update()

    def observe_unsafe(self, d: float) -> None:
        """The distance of a state that preceded a lava death (ignored when infinite)."""
        if math.isfinite(d):
            self.unsafe.extend(np.array([d]))
            self.update()

    def update(self) -> None:
        if self.unsafe.size < MIN_UNSAFE:
            return
        # the smallest threshold above the quantile, so that a state at the quantile is flagged
        lower = float(np.nextafter(float(self.unsafe.quantile(self.recall)), math.inf))
        if not self.states.size:
            self.value = lower
            return
        upper = float(self.states.quantile(self.flag_rate))
        self.value = (lower + upper) / 2 if lower < upper else upper


class CappedThreshold(AdaptiveThreshold):
    """The capped rule of the module docstring: min(``start``, the ``flag_rate``-quantile of
    recently checked distances), recomputed every `UPDATE_EVERY` checked batches; deaths do
    not move it.

    Args:
        start: d_max (latent units), the threshold while no cap applies.
        flag_rate: the most of recently checked states to flag, in (0, 1].
    """

    def __init__(self, start: float, flag_rate: float):
        super().__init__(start, recall=1.0, flag_rate=flag_rate)

    def observe_unsafe(self, d: float) -> None:
        """Deaths do not move this rule."""

    def update(self) -> None:
        if self.states.size:
            self.value = min(self.start, float(self.states.quantile(self.flag_rate)))

"""Per-trial shield metrics: step counters and the rates derived from them (pure numpy).

Ground truth (from the environment's info): a state is unsafe when lava is directly
ahead; a proposed action is unsafe when it is ``forward`` in such a state.

- state check: predicted unsafe = flagged, over all steps.
- action check: predicted unsafe = the check judged the proposed action unsafe, over the
  steps where the check ran (flagged steps), so it measures Q_p alone.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TypeVar

import numpy as np

from shield.envs import FORWARD
from shield.threshold import Ring

COUNTERS: tuple[str, ...] = (
    "steps",
    "violations_total",
    "interventions_total",
    "flagged",
    "state_tp",
    "state_fp",
    "state_fn",
    "action_tp",
    "action_fp",
    "action_fn",
)


def step_counts(
    cost: np.ndarray,
    unsafe_state: np.ndarray,
    proposed: np.ndarray,
    flagged: np.ndarray,
    proposed_unsafe: np.ndarray,
    replaced: np.ndarray,
) -> dict[str, int]:
    """Counters over T steps; every argument has shape [T]."""
    unsafe_state = unsafe_state.astype(bool)
    flagged = flagged.astype(bool)
    judged = proposed_unsafe.astype(bool)
    truly_unsafe = unsafe_state & (proposed == FORWARD)
    return {
        "steps": int(len(cost)),
        "violations_total": int(np.count_nonzero(cost > 0)),
        "interventions_total": int(np.count_nonzero(replaced)),
        "flagged": int(np.count_nonzero(flagged)),
        "state_tp": int(np.count_nonzero(flagged & unsafe_state)),
        "state_fp": int(np.count_nonzero(flagged & ~unsafe_state)),
        "state_fn": int(np.count_nonzero(~flagged & unsafe_state)),
        "action_tp": int(np.count_nonzero(flagged & judged & truly_unsafe)),
        "action_fp": int(np.count_nonzero(flagged & judged & ~truly_unsafe)),
        "action_fn": int(np.count_nonzero(flagged & ~judged & truly_unsafe)),
    }


VISITS = "visits"  # the metric {"<x>_<y>": lifetime steps taken from that cell}


def cell_visits(positions: np.ndarray) -> dict[str, int]:
    """{"<x>_<y>": steps taken from that cell} over T steps' agent cells `positions` [T, 2]
    (x, y), only the cells visited; the keys `visit_cell` reads back."""
    positions = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    cells, counts = np.unique(positions, axis=0, return_counts=True)
    return {f"{x}_{y}": int(n) for (x, y), n in zip(cells.tolist(), counts.tolist(), strict=True)}


def visit_cell(key: str) -> tuple[int, int]:
    """The cell (x, y) of a `cell_visits` key."""
    x, y = key.split("_")
    return int(x), int(y)


# One int per step packs the shield's decisions (see `pack_decisions`): the proposed
# action in the low bits, then three flags. One extra model output per step instead of four.
_ACTION_BITS = 7
_FLAGGED, _PROPOSED_UNSAFE, _REPLACED = 8, 16, 32


ArrayT = TypeVar("ArrayT")  # a numpy array or a torch tensor


def pack_decisions(proposed: ArrayT, flagged: ArrayT, proposed_unsafe: ArrayT, replaced: ArrayT) -> ArrayT:
    """[B] proposed actions (< 8) and three [B] bool masks → [B] ints, one per step.

    Works alike on numpy arrays and torch tensors (the module packs, the callbacks unpack).
    """
    return proposed + flagged * _FLAGGED + proposed_unsafe * _PROPOSED_UNSAFE + replaced * _REPLACED


def unpack_decisions(packed: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of `pack_decisions`: {"proposed", "flagged", "proposed_unsafe", "replaced"}, each [B]."""
    packed = np.asarray(packed, dtype=np.int64)
    return {
        "proposed": packed & _ACTION_BITS,
        "flagged": (packed & _FLAGGED) > 0,
        "proposed_unsafe": (packed & _PROPOSED_UNSAFE) > 0,
        "replaced": (packed & _REPLACED) > 0,
    }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; NaN when the denominator is 0 (undefined, not 0)."""
    return numerator / denominator if denominator else math.nan


def derived_metrics(counts: dict[str, float]) -> dict[str, float]:
    """Rates from lifetime counters (`COUNTERS` plus ``episodes`` and ``return_sum``).

    Returns ``state_flag_rate``, ``state_precision``, ``state_recall``,
    ``action_precision``, ``action_recall`` and ``return_auc``; NaN where undefined.
    """

    def get(key: str) -> float:
        return float(counts.get(key, 0.0))

    return {
        "state_flag_rate": ratio(get("flagged"), get("steps")),
        "state_precision": ratio(get("state_tp"), get("state_tp") + get("state_fp")),
        "state_recall": ratio(get("state_tp"), get("state_tp") + get("state_fn")),
        "action_precision": ratio(get("action_tp"), get("action_tp") + get("action_fp")),
        "action_recall": ratio(get("action_tp"), get("action_tp") + get("action_fn")),
        "return_auc": ratio(get("return_sum"), get("episodes")),
    }


class RecentReturns:
    """The returns of the last `window` finished episodes, in the order they ended."""

    def __init__(self, window: int):
        self.returns: deque[float] = deque(maxlen=int(window))

    def __len__(self) -> int:
        return len(self.returns)

    def add(self, episode_return: float) -> None:
        self.returns.append(float(episode_return))

    def mean(self) -> float:
        """Mean of the kept returns; NaN before any episode has ended."""
        return float(np.mean(self.returns)) if self.returns else math.nan


class RecentDistances:
    """The latent distances D of the last `window` steps the state check ran on, and the
    threshold in effect at the last of them."""

    QUANTILES = {"distance_q10": 0.1, "distance_q50": 0.5, "distance_q90": 0.9}

    def __init__(self, window: int):
        self.values = Ring(window)
        self.d_max = math.nan

    def add(self, distances: np.ndarray, d_max: float) -> None:
        """Per-step D [T] (+inf where the check did not run) and the threshold at the last step."""
        distances = np.asarray(distances, dtype=float)
        self.values.extend(distances[np.isfinite(distances)])
        self.d_max = float(d_max)

    def metrics(self) -> dict[str, float]:
        """{distance_q10, distance_q50, distance_q90, d_max_effective}; NaN when unknown."""
        if self.values.size:
            figures = self.values.quantile(list(self.QUANTILES.values()))
        else:
            figures = [math.nan] * len(self.QUANTILES)
        return dict(zip(self.QUANTILES, map(float, figures), strict=True)) | {"d_max_effective": self.d_max}

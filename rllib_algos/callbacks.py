"""Callbacks that feed the unsafe buffer and log the per-trial shield metrics.

Run in the EnvRunner (episode and sample hooks) and in the Algorithm (train result). All
metrics land under ``result["env_runners"]["shield"]`` (Tune: ``env_runners/shield/...``),
with the names of the trials.csv columns (results/README.md), and the visits per grid cell
under ``result["env_runners"]["shield"]["visits"]`` ({"<x>_<y>": steps from that cell}).
"""

from __future__ import annotations

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.annotations import override

from rllib_algos.metrics import (
    COUNTERS,
    VISITS,
    RecentDistances,
    RecentReturns,
    cell_visits,
    derived_metrics,
    step_counts,
    unpack_decisions,
)
from rllib_algos.rl_module import SHIELD_DECISIONS, SHIELD_DISTANCE

SHIELD = "shield"
RETURN_WINDOW = 100  # episodes averaged into return_final
DISTANCE_WINDOW = 10_000  # checked steps whose distances D give distance_q10/q50/q90


def _info_column(infos: list[dict], key: str) -> np.ndarray:
    return np.array([info.get(key, 0) for info in infos])


def _decisions(chunk) -> dict[str, np.ndarray]:
    """The shield's decisions over the chunk's T steps (each [T]): unpacked from the
    module's output, or "proposed = executed, nothing flagged" for a module without one."""
    if SHIELD_DECISIONS in chunk.extra_model_outputs:
        return unpack_decisions(chunk.get_extra_model_outputs(SHIELD_DECISIONS))
    no = np.zeros(len(chunk), dtype=bool)
    return dict(proposed=np.asarray(chunk.get_actions()), flagged=no, proposed_unsafe=no, replaced=no)


class ShieldCallbacks(RLlibCallback):
    """Fills the unsafe buffer on every lava death and logs the shield's metrics.

    ``return_final`` is the mean return of the last `RETURN_WINDOW` finished episodes,
    whatever iteration they ended in: the EnvRunner keeps them (`RecentReturns`) and logs
    their mean after every sample, so an iteration in which no episode ends still reports it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.recent_returns = RecentReturns(RETURN_WINDOW)
        self.recent_distances = RecentDistances(DISTANCE_WINDOW)

    @override(RLlibCallback)
    def on_episode_end(self, *, episode, rl_module=None, metrics_logger=None, **kwargs) -> None:
        """On a lava death, hand the observation before it to the module's shield
        (``rl_module.record_violation``, when the module has one); log the episode's return."""
        if episode.is_terminated and episode.get_infos(-1).get("cost", 0.0) > 0:
            record = getattr(rl_module, "record_violation", None)
            if record is not None:
                record(episode.get_observations(-2))
        episode_return = episode.get_return() + sum(
            chunk.get_return() for chunk in kwargs.get("prev_episode_chunks") or []
        )
        self.recent_returns.add(episode_return)
        metrics_logger.log_value((SHIELD, "episodes"), 1, reduce="lifetime_sum")
        metrics_logger.log_value((SHIELD, "return_sum"), episode_return, reduce="lifetime_sum")

    @override(RLlibCallback)
    def on_sample_end(self, *, env_runner=None, samples, metrics_logger=None, **kwargs) -> None:
        """Count the sampled steps' metrics and cell visits, then drop the shield's per-step outputs."""
        chunks = [chunk for chunk in samples if len(chunk)]
        totals = dict.fromkeys(COUNTERS, 0)
        if chunks:
            # infos[i] came with the step of action i (a chunk's first info is its reset's)
            infos = [info for chunk in chunks for info in list(chunk.get_infos())[-len(chunk) :]]
            decisions = [_decisions(chunk) for chunk in chunks]
            positions = [info["agent_pos"] for info in infos if "agent_pos" in info]
            for cell, visits in cell_visits(np.array(positions)).items():
                metrics_logger.log_value((SHIELD, VISITS, cell), visits, reduce="lifetime_sum")
            totals = step_counts(
                cost=_info_column(infos, "cost"),
                unsafe_state=_info_column(infos, "unsafe_state"),
                **{key: np.concatenate([d[key] for d in decisions]) for key in decisions[0]},
            )
            distances = [
                c.get_extra_model_outputs(SHIELD_DISTANCE) for c in chunks if SHIELD_DISTANCE in c.extra_model_outputs
            ]
            if distances:
                d_max = getattr(env_runner.module, "last_d_max", np.nan) if env_runner is not None else np.nan
                self.recent_distances.add(np.concatenate(distances), d_max)
            for chunk in chunks:  # counted; replay need not copy them
                for key in (SHIELD_DECISIONS, SHIELD_DISTANCE):
                    chunk.extra_model_outputs.pop(key, None)
        for key, value in totals.items():
            metrics_logger.log_value((SHIELD, key), value, reduce="lifetime_sum")
        if len(self.recent_returns):
            metrics_logger.log_value((SHIELD, "return_final"), self.recent_returns.mean(), reduce="mean", window=1)
        for key, value in self.recent_distances.metrics().items():
            if np.isfinite(value):
                metrics_logger.log_value((SHIELD, key), value, reduce="mean", window=1)

    @override(RLlibCallback)
    def on_train_result(self, *, result: dict, **kwargs) -> None:
        """Add the rates derived from the counters (`derived_metrics`) and the node id."""
        shield = result.get("env_runners", {}).get(SHIELD)
        if shield is not None:
            shield.update(derived_metrics(shield))
        # Several Ray nodes on one machine share an IP; the node id tells them apart.
        result["node_id"] = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None

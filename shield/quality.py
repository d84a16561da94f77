"""Quality figures of the frozen networks, as the shield uses them (written into manifests).

- `encoder_auc`: ROC AUC of −D for lava-ahead versus other states (ranking only);
- `operating_points`: the state check's flag rate, precision and recall at given `d_max`
  values (the threshold the shield actually applies), with quantiles of D;
- `prior_q_quality`: how Q_p's action check meets the ground truth.

The distances D come from `unsafe_distances`: an `UnsafeBuffer` filled the way training
fills it (embeddings of the observations just before lava deaths, a ring of
`buffer_size`, mean of the `k` nearest) from the first half of the episodes, queried with
every observation of the second half.

Those are random-exploration states, the encoder's own kind of data. `on_policy_distances`
measures the check where a trained agent is instead: on each of a few fixed layouts, the
buffer first takes the deaths of random exploration (the start of training), then the
agent follows the shortest safe route with ε-random moves (where training ends), each of
its deaths stored as it happens and each of its states checked against the buffer of that
moment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from shield.envs import DEFAULT_LAVA_LOOK, FORWARD, shortest_path_action
from shield.pretrain_data import Experience, batched_forward, random_experience
from shield.settings import PAPER_SHIELD
from shield.unsafe_buffer import BUFFER_RULES, UnsafeBuffer

# d_max values at which the operating point is reported (latent units).
OPERATING_D_MAX = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
QUANTILES = (0.1, 0.5, 0.9)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties ½."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def unsafe_distances(
    encoder: torch.nn.Module,
    data: Experience,
    buffer_size: int = PAPER_SHIELD.buffer_size,
    k: int = PAPER_SHIELD.k,
) -> tuple[np.ndarray, np.ndarray]:
    """(D [Q], lava_ahead [Q]) of the Q observations of the second half of the episodes,
    against an `UnsafeBuffer` holding the unsafe observations of the first half."""
    split = np.median(data.episode)
    reference = (data.episode <= split) & data.unsafe
    query = data.episode > split
    unsafe = batched_forward(encoder, data.obs[reference])
    buffer = UnsafeBuffer(buffer_size, unsafe.shape[1])
    buffer.add(unsafe)
    D = buffer.distance(batched_forward(encoder, data.obs[query]), k)
    return D.numpy(), data.lava_ahead[query]


# The on-policy operating point: layouts, steps of random exploration then of the
# ε-greedy shortest-route policy on each, and that policy's ε (a trained agent's last ε).
ON_POLICY_LAYOUTS = (123, 456, 789, 1000, 1001)
ON_POLICY_EXPLORE_STEPS = 2_000
ON_POLICY_STEPS = 4_000
ON_POLICY_EPSILON = 0.1


def on_policy_walks(
    env_id: str,
    obs: str,
    layouts: Sequence[int] = ON_POLICY_LAYOUTS,
    explore_steps: int = ON_POLICY_EXPLORE_STEPS,
    policy_steps: int = ON_POLICY_STEPS,
    epsilon: float = ON_POLICY_EPSILON,
    lava_look: str = DEFAULT_LAVA_LOOK,
) -> list[tuple[Experience, Experience]]:
    """Per layout: (random exploration, then the ε-greedy shortest-route policy) on it."""
    return [
        (
            random_experience([env_id], obs, explore_steps, layout, layout_seed=layout, lava_look=lava_look),
            random_experience(
                [env_id],
                obs,
                policy_steps,
                layout + 1,
                layout_seed=layout,
                policy=shortest_path_action,
                epsilon=epsilon,
                lava_look=lava_look,
            ),
        )
        for layout in layouts
    ]


def concatenated(parts: Sequence[Experience]) -> Experience:
    """One `Experience` of several, episodes numbered apart."""
    offsets = np.cumsum([0, *(int(p.episode.max()) + 1 for p in parts[:-1])])
    return Experience(
        np.concatenate([p.obs for p in parts]),
        np.concatenate([p.unsafe for p in parts]),
        np.concatenate([p.lava_ahead for p in parts]),
        np.concatenate([p.episode + o for p, o in zip(parts, offsets, strict=True)]),
    )


@torch.no_grad()
def on_policy_distances(
    encoder: torch.nn.Module,
    walks: Sequence[tuple[Experience, Experience]],
    buffer_size: int = PAPER_SHIELD.buffer_size,
    k: int = PAPER_SHIELD.k,
    buffer_rule: str = "ring",
) -> tuple[np.ndarray, np.ndarray]:
    """(D [Q], lava_ahead [Q]) of the policy's states of `walks` (`on_policy_walks`; module
    docstring); D is +inf while the buffer holds 3 rows or fewer, as in the shield."""
    D_all, ahead_all = [], []
    for explored, walk in walks:
        buffer = UnsafeBuffer(buffer_size, encoder.latent_dim, rule=buffer_rule)
        if explored.unsafe.any():
            buffer.add(batched_forward(encoder, explored.obs[explored.unsafe]))
        z = batched_forward(encoder, walk.obs)
        D = np.full(len(walk), np.inf)
        start = 0
        for death in [*np.flatnonzero(walk.unsafe), len(walk)]:  # the buffer stands still between deaths
            stop = min(death + 1, len(walk))  # the state before a death is checked, then stored
            if buffer.active:
                D[start:stop] = buffer.distance(z[start:stop], k).numpy()
            if death < len(walk):
                buffer.add(z[death : death + 1])
            start = stop
        D_all.append(D)
        ahead_all.append(walk.lava_ahead)
    return np.concatenate(D_all), np.concatenate(ahead_all)


def encoder_auc(
    encoder: torch.nn.Module,
    data: Experience,
    buffer_size: int = PAPER_SHIELD.buffer_size,
    k: int = PAPER_SHIELD.k,
) -> float:
    """ROC AUC of −D for lava-ahead versus other states, as the shield would see it."""
    D, ahead = unsafe_distances(encoder, data, buffer_size, k)
    return roc_auc(-D, ahead)


def encoder_quality(
    encoder: torch.nn.Module, data: Experience, walks: Sequence[tuple[Experience, Experience]] | None = None
) -> dict:
    """An encoder manifest's figures for one environment: ``roc_auc`` and
    ``operating_points`` (see `operating_points`) on random exploration, at the paper's
    buffer_size and k; with `walks` (`on_policy_walks`), also ``on_policy``: {buffer rule:
    operating points} of `on_policy_distances`, for each of `BUFFER_RULES`."""
    D, ahead = unsafe_distances(encoder, data)
    figures = {"roc_auc": roc_auc(-D, ahead), "operating_points": distance_figures(D, ahead)}
    if walks is not None:
        figures["on_policy"] = {
            rule: distance_figures(*on_policy_distances(encoder, walks, buffer_rule=rule)) for rule in BUFFER_RULES
        }
    return figures


def state_check_figures(D: np.ndarray, unsafe: np.ndarray, d_max: float) -> dict[str, float]:
    """The state check D < d_max against the ground truth `unsafe` (both [N]).

    Returns:
        ``flag_rate`` (fraction of states flagged), ``precision`` (fraction of flagged
        states that are unsafe; NaN when none is flagged), ``recall`` (fraction of unsafe
        states flagged; NaN when there is none).
    """
    flagged = np.asarray(D) < d_max
    unsafe = np.asarray(unsafe, dtype=bool)
    hits = int((flagged & unsafe).sum())
    return {
        "flag_rate": float(flagged.mean()) if len(flagged) else float("nan"),
        "precision": hits / int(flagged.sum()) if flagged.any() else float("nan"),
        "recall": hits / int(unsafe.sum()) if unsafe.any() else float("nan"),
    }


def operating_points(
    encoder: torch.nn.Module,
    data: Experience,
    d_max_values: Sequence[float] = OPERATING_D_MAX,
    buffer_size: int = PAPER_SHIELD.buffer_size,
    k: int = PAPER_SHIELD.k,
) -> dict:
    """The state check at each of `d_max_values` (rho = 1), and where D falls.

    Returns:
        {"d_max": {"<d_max>": {flag_rate, precision, recall}}, "D_safe": {"q10", "q50",
        "q90"}, "D_unsafe": {...}}: D quantiles of safe and of lava-ahead states.
    """
    return distance_figures(*unsafe_distances(encoder, data, buffer_size, k), d_max_values)


def distance_figures(D: np.ndarray, ahead: np.ndarray, d_max_values: Sequence[float] = OPERATING_D_MAX) -> dict:
    """`operating_points` of distances D [Q] with ground truth `ahead` [Q]."""

    def quantiles(values: np.ndarray) -> dict[str, float]:
        if not len(values):
            return {f"q{round(100 * q)}": float("nan") for q in QUANTILES}
        return {f"q{round(100 * q)}": float(np.quantile(values, q)) for q in QUANTILES}

    return {
        "d_max": {f"{d:g}": state_check_figures(D, ahead, d) for d in d_max_values},
        "D_safe": quantiles(D[~ahead]),
        "D_unsafe": quantiles(D[ahead]),
    }


@torch.no_grad()
def prior_q_quality(prior_q: torch.nn.Module, data: Experience, tau: float = PAPER_SHIELD.tau) -> dict[str, float]:
    """How Q_p's action check (Q_p(s,a) − mean Q_p(s,·) < tau) meets the ground truth.

    Returns:
        ``unsafe_flagged``: fraction of forward-into-lava actions flagged (target ≥ 0.95);
        ``safe_flagged``: fraction of all other (state, action) pairs flagged (false
        positives; lower is better); ``n_unsafe``, ``n_safe``: pair counts.
    """
    q = batched_forward(prior_q, data.obs)
    flagged = (q - q.mean(dim=1, keepdim=True)) < tau  # [N, A]
    truly_unsafe = torch.zeros_like(flagged)
    truly_unsafe[:, FORWARD] = torch.as_tensor(data.lava_ahead)
    n_unsafe, n_safe = int(truly_unsafe.sum()), int((~truly_unsafe).sum())
    return {
        "unsafe_flagged": float(flagged[truly_unsafe].float().mean()) if n_unsafe else float("nan"),
        "safe_flagged": float(flagged[~truly_unsafe].float().mean()),
        "n_unsafe": n_unsafe,
        "n_safe": n_safe,
    }

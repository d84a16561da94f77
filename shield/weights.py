"""Files of the frozen networks the shield uses: the encoder f_θ and the prior Q_p.

A weight file is a `torch.save`d dict (loadable with ``weights_only=True``)::

    {"kind": "encoder" | "prior_q" | "source_q", "obs": "symbolic" | "pixels",
     "latent_dim": int (encoder), "num_actions": int (prior_q), "state_dict": {...}}

`load_frozen` refuses a missing, unreadable or mismatched file with an error that names
the parameter the path came from. `WeightFiles` is the record of the files a shield (or
a whole study) needs: Q_p, and one encoder per contrastive margin α.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from shield.envs import FRAME, NUM_ACTIONS
from shield.networks import LATENT_DIM, Encoder, QNetwork
from shield.settings import ACTION_CHECK_MODES, STATE_CHECK_MODES, ShieldParams

# what each kind of file is called in errors: the field of `WeightFiles` it comes from
KINDS = {"encoder": "weights.encoders", "prior_q": "weights.prior_q", "source_q": "source_q file"}


@dataclass(frozen=True)
class WeightFiles:
    """The frozen networks' weight files: Q_p (modes "priors" and "shield") and the
    encoders by margin α (modes "state_only" and "shield"), e.g.
    ``WeightFiles(prior_q="q.pt", encoders={10.0: "enc10.pt", 5.0: "enc5.pt"})``.

    `encoders` is stored as sorted (margin, path) pairs, so the record is immutable and
    its repr (written into each trial's params.json) is the same in every process.
    """

    prior_q: str | None = None
    encoders: tuple[tuple[float, str], ...] = ()

    def __post_init__(self) -> None:
        pairs = self.encoders.items() if isinstance(self.encoders, Mapping) else self.encoders
        object.__setattr__(self, "encoders", tuple(sorted((float(m), str(p)) for m, p in pairs)))
        if self.prior_q is not None:
            object.__setattr__(self, "prior_q", str(self.prior_q))

    def used_by(self, params: ShieldParams) -> WeightFiles:
        """The files the shield of `params` loads: Q_p where the action check runs ("priors",
        "shield"), the encoder of ``params.margin`` where the state check runs
        ("state_only", "shield")."""
        return WeightFiles(
            prior_q=self.prior_q if params.mode in ACTION_CHECK_MODES else None,
            encoders={params.margin: self.encoder(params.margin)} if params.mode in STATE_CHECK_MODES else {},
        )

    def to_dict(self) -> dict:
        """{"prior_q": path, "encoders": {"<margin>": path}} (for manifests)."""
        return {"prior_q": self.prior_q, "encoders": {str(m): p for m, p in self.encoders}}

    @property
    def margins(self) -> list[float]:
        return [margin for margin, _ in self.encoders]

    def encoder(self, margin: float) -> str:
        """The encoder trained with `margin`; ValueError naming the margins available."""
        for m, path in self.encoders:
            if m == float(margin):
                return path
        raise ValueError(f"no encoder for margin {margin!r}: the weight files hold margins {self.margins}")


def build(
    kind: str, obs_kind: str, latent_dim: int = LATENT_DIM, num_actions: int = NUM_ACTIONS, side: int = FRAME
) -> nn.Module:
    """A fresh network of `kind` ("encoder", "prior_q" or "source_q") for `obs_kind`, on a
    frame of `side` cells (symbolic; `shield.envs.grid_side`)."""
    if kind == "encoder":
        return Encoder(obs_kind, latent_dim, side)
    if kind in ("prior_q", "source_q"):
        return QNetwork(obs_kind, num_actions, side)
    raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def save_frozen(path: str | Path, kind: str, obs_kind: str, network: nn.Module) -> Path:
    """Write `network`'s weights with the metadata `load_frozen` checks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"kind": kind, "obs": obs_kind, "state_dict": network.state_dict()}
    side = int(getattr(network, "side", FRAME))
    if side != FRAME:  # a 9×9 file carries no side, so its bytes match the committed artifacts
        payload["side"] = side
    if kind == "encoder":
        payload["latent_dim"] = int(network.latent_dim)
    else:
        payload["num_actions"] = int(network.head.out_features)
    torch.save(payload, path)
    return path


def load_frozen(
    path: str | Path | None,
    kind: str,
    obs_kind: str,
    latent_dim: int = LATENT_DIM,
    num_actions: int = NUM_ACTIONS,
    side: int = FRAME,
) -> nn.Module:
    """Load a frozen network in eval mode with gradients off, for a frame of `side` cells.

    Raises:
        ValueError: naming the field (`weights.encoders` or `weights.prior_q`) when the file
            is missing, unreadable, of another kind, observation kind or frame side, or its
            weights do not fit the network.
    """
    param = KINDS[kind]
    if path is None:
        raise ValueError(f"{param} is required for this shield mode: pass a weight file")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{param} {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        raise ValueError(f"{param} {str(path)!r} is not a readable weight file: {err}") from err
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{param} {str(path)!r} is not a shieldsweep weight file (no 'state_dict')")
    if payload.get("kind") != kind:
        raise ValueError(f"{param} {str(path)!r} holds a {payload.get('kind')!r} network, expected {kind!r}")
    if payload.get("obs") != obs_kind:
        raise ValueError(
            f"{param} {str(path)!r} was trained for obs={payload.get('obs')!r}, "
            f"but the environment uses obs={obs_kind!r}"
        )
    trained_side = int(payload.get("side", FRAME))
    if obs_kind == "symbolic" and trained_side != side:
        raise ValueError(
            f"{param} {str(path)!r} was trained on {trained_side}×{trained_side} grids, but the environment's "
            f"grid is {side}×{side}: pretrain {param.removeprefix('weights.')} on tasks of that size"
        )
    network = build(kind, obs_kind, latent_dim, num_actions, side)
    try:
        network.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{param} {str(path)!r} does not fit the {kind} network: {err}") from err
    network.eval().requires_grad_(False)
    return network

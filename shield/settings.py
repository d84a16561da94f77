"""The shield's settings, with the paper's values as defaults.

`ShieldParams` is the one record of what a study sweeps: the code, the CSV columns and
the command-line flags (``--d-max``, ``--margin``, ...) use its field names. Its
defaults are the paper's settings; `PAPER_SHIELD` is that setting.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

MODES: tuple[str, ...] = ("dqn", "priors", "shield")


@dataclass(frozen=True)
class ShieldParams:
    """The shield's settings; defaults are the paper's.

    mode: "dqn" (no shield), "priors" (action check at every step with probability rho),
        "shield" (state check, then action check).
    d_max: latent distance below which a state is unsafe (latent units, > 0).
    margin: contrastive margin α the encoder was trained with (squared latent units,
        > 0); it selects the encoder, the decision itself does not read it.
    rho: probability that a flagged state is acted on, in [0, 1].
    buffer_size: capacity of the unsafe-embedding ring (≥ 1).
    k: nearest unsafe embeddings averaged into the distance D (≥ 1).
    tau: action threshold on Q_p(s, a) − mean_a' Q_p(s, a').
    """

    mode: str = "shield"
    d_max: float = 2.5
    margin: float = 10.0
    rho: float = 0.95
    buffer_size: int = 100
    k: int = 10
    tau: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        for name in ("d_max", "margin"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not (value > 0 and math.isfinite(value))
            ):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.rho, bool) or not isinstance(self.rho, numbers.Real) or not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {self.rho!r}")
        for name in ("k", "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not math.isfinite(self.tau):
            raise ValueError(f"tau must be a finite number, got {self.tau!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def types(cls) -> dict[str, type]:
        """{setting name: its type} (float or int; mode: str)."""
        return {f.name: type(f.default) for f in fields(cls)}

    @classmethod
    def from_settings(cls, settings: dict) -> ShieldParams:
        """The parameters among `settings` (other keys, such as weight files, ignored)."""
        return cls(**{key: settings[key] for key in cls.names() if key in settings})


PAPER_SHIELD = ShieldParams()
# Which settings act in each mode (the others are left empty in the tables).
RELEVANT: dict[str, tuple[str, ...]] = {
    "dqn": (),
    "priors": ("rho", "tau"),
    "shield": ("d_max", "margin", "rho", "buffer_size", "k", "tau"),
}


def setting_label(settings: dict) -> str:
    """A short, unique name of a setting, e.g. "shield d_max=2.5 margin=10 rho=0.95 ..."
    (the relevant settings of its mode, in the tables' column order)."""
    mode = settings["mode"]
    parts = [mode]
    for key in RELEVANT[mode]:
        value = settings.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{key}={value:g}" if isinstance(value, int | float) else f"{key}={value}")
    return " ".join(parts)

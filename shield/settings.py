"""The shield's settings: the tool's defaults, and the paper's setting.

`ShieldParams` is the one record of what a study sweeps: the code, the CSV columns and
the command-line flags (``--d-max``, ``--margin``, ...) use its field names. Its
defaults are the tool's (`DEFAULT_SHIELD`); they are the paper's values except for two
measured deviations (docs/method.md, "The state check during training"): the unsafe
buffer keeps distinct embeddings (``buffer_rule`` "distinct"; the paper's is a plain
ring) and the threshold ``d_max`` is capped so that it flags at most 20% of the recently
checked states (``d_max_rule`` "capped"; the paper's is "fixed"). `PAPER_SHIELD` is the
paper's setting exactly.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

MODES: tuple[str, ...] = ("dqn", "priors", "shield")
D_MAX_RULES: tuple[str, ...] = ("fixed", "relative", "adaptive", "capped")
BUFFER_RULES: tuple[str, ...] = ("ring", "distinct")


@dataclass(frozen=True)
class ShieldParams:
    """The shield's settings; defaults are the tool's (the paper's but ``buffer_rule`` and
    ``d_max_rule``).

    mode: "dqn" (no shield), "priors" (action check at every step with probability rho),
        "shield" (state check, then action check).
    d_max: latent distance below which a state is unsafe (latent units, > 0).
    margin: contrastive margin α the encoder was trained with (squared latent units,
        > 0); it selects the encoder, the decision itself does not read it.
    rho: probability that a flagged state is acted on, in [0, 1].
    buffer_size: capacity of the unsafe-embedding buffer (≥ 1).
    buffer_rule: what the buffer keeps (`shield.unsafe_buffer`): "ring" (the paper's: the
        last ``buffer_size`` embeddings, repeats included) or "distinct" (the last
        ``buffer_size`` different ones; the default).
    k: nearest unsafe embeddings averaged into the distance D (≥ 1).
    tau: action threshold on Q_p(s, a) − mean_a' Q_p(s, a').
    d_max_rule: how the state check's threshold is set (`shield.threshold`):
        "fixed" (the paper's: ``d_max`` latent units), "relative" (``d_max`` · √margin:
        d_max as a fraction of the distance the margin pushes safe from unsafe, so the
        same value means the same on every margin), or "adaptive" (starts at ``d_max``,
        then follows the distances the agent meets, see `AdaptiveThreshold`), or "capped"
        (``d_max``, lowered when it would flag more than ``adaptive_flag_rate`` of the
        recently checked states, see `CappedThreshold`).
    adaptive_recall: "adaptive" only: the fraction of recent pre-death states the
        threshold must flag, in (0, 1].
    adaptive_flag_rate: "adaptive" and "capped": the most the threshold may flag of
        recently checked states, in (0, 1].
    """

    mode: str = "shield"
    d_max: float = 2.5
    margin: float = 10.0
    rho: float = 0.95
    buffer_size: int = 100
    buffer_rule: str = "distinct"
    k: int = 10
    tau: float = 0.0
    d_max_rule: str = "capped"
    adaptive_recall: float = 0.9
    adaptive_flag_rate: float = 0.2

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
        if self.buffer_rule not in BUFFER_RULES:
            raise ValueError(f"buffer_rule must be one of {list(BUFFER_RULES)}, got {self.buffer_rule!r}")
        if self.d_max_rule not in D_MAX_RULES:
            raise ValueError(f"d_max_rule must be one of {list(D_MAX_RULES)}, got {self.d_max_rule!r}")
        for name in ("adaptive_recall", "adaptive_flag_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")

    @property
    def d_max_start(self) -> float:
        """The threshold the state check starts with (latent units)."""
        return self.d_max * math.sqrt(self.margin) if self.d_max_rule == "relative" else self.d_max

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


DEFAULT_SHIELD = ShieldParams()
PAPER_SHIELD = ShieldParams(buffer_rule="ring", d_max_rule="fixed")
# Which settings act in each mode (the others are left empty in the tables).
RELEVANT: dict[str, tuple[str, ...]] = {
    "dqn": (),
    "priors": ("rho", "tau"),
    "shield": tuple(name for name in ShieldParams.names() if name != "mode"),
}
# Shown in a setting's label only when they differ from the default or act: the rules when
# they are not the default, the adaptive rule's parameters when it is "adaptive", its flag
# rate also under "capped" when not the default (so the default setting keeps its short label).
_LABEL_ONLY_IF = {
    "buffer_rule": lambda s: s.get("buffer_rule", DEFAULT_SHIELD.buffer_rule) != DEFAULT_SHIELD.buffer_rule,
    "d_max_rule": lambda s: s.get("d_max_rule", DEFAULT_SHIELD.d_max_rule) != DEFAULT_SHIELD.d_max_rule,
    "adaptive_recall": lambda s: s.get("d_max_rule") == "adaptive",
    "adaptive_flag_rate": lambda s: (
        s.get("d_max_rule") == "adaptive"
        or (
            s.get("d_max_rule", DEFAULT_SHIELD.d_max_rule) == "capped"
            and s.get("adaptive_flag_rate", DEFAULT_SHIELD.adaptive_flag_rate) != DEFAULT_SHIELD.adaptive_flag_rate
        )
    ),
}


def setting_label(settings: dict) -> str:
    """A short, unique name of a setting, e.g. "shield d_max=2.5 margin=10 rho=0.95 ..."
    (the relevant settings of its mode, in the tables' column order)."""
    mode = settings["mode"]
    parts = [mode]
    for key in RELEVANT[mode]:
        if key in _LABEL_ONLY_IF and not _LABEL_ONLY_IF[key](settings):
            continue
        value = settings.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{key}={value:g}" if isinstance(value, int | float) else f"{key}={value}")
    return " ".join(parts)

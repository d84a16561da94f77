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
from dataclasses import asdict, dataclass, fields, replace

MODES: tuple[str, ...] = ("dqn", "priors", "state_only", "shield")
STATE_CHECK_MODES: tuple[str, ...] = ("state_only", "shield")  # the encoder and the unsafe buffer act
ACTION_CHECK_MODES: tuple[str, ...] = ("priors", "shield")  # Q_p acts
D_MAX_RULES: tuple[str, ...] = ("fixed", "relative", "adaptive", "capped")
BUFFER_RULES: tuple[str, ...] = ("ring", "distinct")


@dataclass(frozen=True)
class ShieldParams:
    """The shield's settings; defaults are the tool's (the paper's but ``buffer_rule`` and
    ``d_max_rule``).

    mode: "dqn" (no shield), "priors" (action check at every step with probability rho),
        "state_only" (state check alone: a flagged state's proposed action is replaced by a
        uniformly random other one, without Q_p), "shield" (state check, then action check).
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

    def acting_names(self) -> tuple[str, ...]:
        """The fields that change what this setting computes: none but ``mode`` for "dqn",
        rho and tau for "priors"; for "shield" all, and for "state_only" all but tau, except
        the adaptive rule's parameters where its ``d_max_rule`` does not read them
        (``adaptive_flag_rate`` also acts under "capped")."""
        unused: set[str] = set()
        if self.mode in STATE_CHECK_MODES and self.d_max_rule != "adaptive":
            unused = {"adaptive_recall"} if self.d_max_rule == "capped" else {"adaptive_recall", "adaptive_flag_rate"}
        return ("mode", *(name for name in RELEVANT[self.mode] if name not in unused))

    def acting(self) -> ShieldParams:
        """This setting with every field it does not read at the tool's default: two settings
        that compute the same thing are equal (a 6-field search setting and a 9-field grid one)."""
        return replace(type(self)(), **{name: getattr(self, name) for name in self.acting_names()})

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
        """The parameters among `settings` (a table row, a Tune config's ``shield_config``;
        other keys, such as weight files, ignored; missing or empty ones at the defaults)."""
        return cls(**{key: settings[key] for key in cls.names() if not _empty(settings.get(key))})


def _empty(value) -> bool:
    """A table's empty cell: None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


DEFAULT_SHIELD = ShieldParams()
PAPER_SHIELD = ShieldParams(buffer_rule="ring", d_max_rule="fixed")
# Which settings act in each mode (the others are left empty in the tables).
RELEVANT: dict[str, tuple[str, ...]] = {
    "dqn": (),
    "priors": ("rho", "tau"),
    "state_only": tuple(name for name in ShieldParams.names() if name not in ("mode", "tau")),
    "shield": tuple(name for name in ShieldParams.names() if name != "mode"),
}
# Named in a label only when not the default (so the default setting keeps its short label).
_NAMED_IF_NOT_DEFAULT = ("buffer_rule", "d_max_rule")


def setting_label(settings: dict | ShieldParams) -> str:
    """A short, unique name of a setting, e.g. "shield d_max=2.5 margin=10 rho=0.95 ...": the
    fields that act in it (`ShieldParams.acting_names`), in the tables' column order; the
    rules only when not the default, and the capped rule's flag rate likewise. `settings`:
    a `ShieldParams` or a table row (empty cells for the fields its mode does not use)."""
    values = settings.to_dict() if isinstance(settings, ShieldParams) else settings
    params = ShieldParams.from_settings(values)
    parts = [params.mode]
    for key in params.acting_names()[1:]:  # after the mode, in the tables' column order
        value = values.get(key)
        if _empty(value):
            continue
        by_default = key in _NAMED_IF_NOT_DEFAULT or (key == "adaptive_flag_rate" and params.d_max_rule == "capped")
        if by_default and value == getattr(DEFAULT_SHIELD, key):
            continue
        parts.append(f"{key}={_number(value)}" if isinstance(value, int | float) else f"{key}={value}")
    return " ".join(parts)


def _number(value: float) -> str:
    """``value`` short (2.5, 10, 0.95), but never so short that two values read alike: a
    search's 2.4837261 stays itself, so that labels stay one per setting."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value if isinstance(value, int) else float(value))

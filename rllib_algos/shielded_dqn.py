"""ShieldedDQN: PaperDQN with the shield on exploration.

    from rllib_algos import ShieldedDQNConfig

    config = (
        ShieldedDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(mode="shield", d_max=2.5, weights=WeightFiles(prior_q=..., encoders={10.0: ...}))
    )
    algo = config.build_algo()

DQN settings: the paper's, from `PaperDQNConfig`. Shield settings: `.shield(...)`, each
defaulting to the paper's value. Metrics: `ShieldCallbacks`.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_algos.callbacks import ShieldCallbacks
from rllib_algos.paper_dqn import PaperDQN, PaperDQNConfig
from rllib_algos.rl_module import ShieldedDQNModule
from shield.envs import check_env_id, check_obs_kind
from shield.settings import ShieldParams
from shield.shield import Shield
from shield.weights import WeightFiles

_SHIELD_KEYS = (*ShieldParams.names(), "weights")


class ShieldedDQNConfig(PaperDQNConfig):
    """PaperDQNConfig with a `.shield(...)` builder and the shield's validation."""

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or ShieldedDQN)
        self.shield_config: dict[str, Any] = ShieldParams().to_dict() | {"weights": WeightFiles()}
        self.env_config = {"obs": "symbolic"}
        self.callbacks_class = ShieldCallbacks

    def shield(
        self,
        *,
        mode: str = NotProvided,
        d_max: float = NotProvided,
        margin: float = NotProvided,
        rho: float = NotProvided,
        k: int = NotProvided,
        buffer_size: int = NotProvided,
        buffer_rule: str = NotProvided,
        tau: float = NotProvided,
        d_max_rule: str = NotProvided,
        adaptive_recall: float = NotProvided,
        adaptive_flag_rate: float = NotProvided,
        weights: WeightFiles = NotProvided,
    ) -> ShieldedDQNConfig:
        """Set the shield (see `shield.settings.ShieldParams`; unset arguments keep theirs).

        Args:
            mode: "dqn", "priors" or "shield" (default "shield").
            d_max: latent distance threshold (default 2.5).
            margin: contrastive margin α; selects the encoder in `weights` (default 10).
            rho: probability of acting on a flagged state (default 0.95).
            k: nearest unsafe embeddings averaged (default 10).
            buffer_size: unsafe-embedding buffer capacity (default 100).
            buffer_rule: "distinct" (default) or "ring" (the paper's); `shield.unsafe_buffer`.
            tau: action threshold on Q_p(s,a) − mean Q_p(s,·) (default 0).
            d_max_rule: "fixed" (default), "relative" (d_max · √margin), "adaptive"
                (`shield.threshold.AdaptiveThreshold`, starting at d_max) or "capped"
                (`shield.threshold.CappedThreshold`).
            adaptive_recall: "adaptive": fraction of recent pre-death states to flag (0.9).
            adaptive_flag_rate: "adaptive", "capped": the most of checked states to flag (0.2).
            weights: the frozen networks' files: Q_p (modes "priors", "shield") and the
                encoders by margin (mode "shield"); a search over α gives several.
        """
        given = dict(mode=mode, d_max=d_max, margin=margin, rho=rho, k=k, buffer_size=buffer_size, tau=tau)
        given["buffer_rule"] = buffer_rule
        given |= dict(d_max_rule=d_max_rule, adaptive_recall=adaptive_recall, adaptive_flag_rate=adaptive_flag_rate)
        given["weights"] = weights
        self.shield_config = self.shield_config | {key: v for key, v in given.items() if v is not NotProvided}
        return self

    @property
    @override(PaperDQNConfig)
    def _model_config_auto_includes(self) -> dict[str, Any]:
        """The shield's settings reach the RLModule as ``model_config["shield"]``."""
        return super()._model_config_auto_includes | {"shield": dict(self.shield_config)}

    @override(PaperDQNConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        """`ShieldedDQNModule`: the paper's Q-network with the shield on exploration."""
        return RLModuleSpec(module_class=ShieldedDQNModule)

    @override(PaperDQNConfig)
    def validate(self) -> None:
        """The shield's checks, then PaperDQN's and RLlib's: ValueError before any actor starts."""
        self.validate_shield()
        super().validate()

    def validate_shield(self) -> None:
        """Check the environment, the shield settings and that the weight files load."""
        unknown = set(self.shield_config) - set(_SHIELD_KEYS)
        if unknown:
            raise ValueError(f"unknown shield settings {sorted(unknown)}; accepted: {list(_SHIELD_KEYS)}")
        check_env_id(self.env)
        obs = self.env_config.get("obs", "symbolic")
        check_obs_kind(obs)
        layout_seed = self.env_config.get("layout_seed")
        if layout_seed is not None and (isinstance(layout_seed, bool) or int(layout_seed) != layout_seed):
            raise ValueError(f"layout_seed must be an integer or None, got {layout_seed!r}")
        weights = self.shield_config["weights"]
        if not isinstance(weights, WeightFiles):
            raise ValueError(f"weights must be a shield.weights.WeightFiles, got {type(weights).__name__}")
        Shield.load(ShieldParams.from_settings(self.shield_config), weights, obs)


class ShieldedDQN(PaperDQN):
    """PaperDQN whose default config is `ShieldedDQNConfig`."""

    @classmethod
    @override(PaperDQN)
    def get_default_config(cls) -> ShieldedDQNConfig:
        """`ShieldedDQNConfig`: the paper's DQN with the paper's shield settings."""
        return ShieldedDQNConfig()

"""ShieldedDQN: PaperDQN with the shield on exploration.

    from rllib_algos import ShieldedDQNConfig

    config = (
        ShieldedDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(PAPER_SHIELD, d_max=3.0, weights=WeightFiles(prior_q=..., encoders={10.0: ...}))
    )
    algo = config.build_algo()

DQN settings: the paper's, from `PaperDQNConfig`. Shield settings: `.shield(...)`, a
`shield.settings.ShieldParams` (default: the tool's, `DEFAULT_SHIELD`). Metrics: `ShieldCallbacks`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_algos.callbacks import ShieldCallbacks
from rllib_algos.paper_dqn import PaperDQN, PaperDQNConfig
from rllib_algos.rl_module import ShieldedDQNModule
from shield.envs import DEFAULT_LAVA_LOOK, check_env_id, check_lava_look, check_obs_kind, check_pixels_fit, grid_side
from shield.settings import DEFAULT_SHIELD, ShieldParams
from shield.shield import Shield
from shield.weights import WeightFiles

# The Tune-facing form of the shield's settings: a dict in the config dict (`to_dict`), so
# that Tune can show its fields as columns and Optuna can sample them
# (``shield_config/d_max``), with the weight files under "weights".
SHIELD_CONFIG = "shield_config"
WEIGHTS = "weights"


class ShieldedDQNConfig(PaperDQNConfig):
    """PaperDQNConfig with a `.shield(...)` builder and the shield's validation.

    Holds the shield as ``shield_params`` (`ShieldParams`) and ``shield_weights``
    (`WeightFiles`); the config dict (`to_dict`, `update_from_dict`, what Tune sees) holds
    them as one ``shield_config`` dict.
    """

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or ShieldedDQN)
        self.shield_params: ShieldParams = DEFAULT_SHIELD
        self.shield_weights: WeightFiles = WeightFiles()
        self.env_config = {"obs": "symbolic"}
        self.callbacks_class = ShieldCallbacks

    def shield(
        self, params: ShieldParams | None = None, *, weights: WeightFiles = NotProvided, **overrides: Any
    ) -> ShieldedDQNConfig:
        """Set the shield: `params` (default: the ones set so far, at first the tool's
        defaults, `shield.settings.DEFAULT_SHIELD`), with `overrides` of its fields, e.g.
        ``.shield(PAPER_SHIELD, d_max=3.0)`` or ``.shield(mode="priors")``.

        Args:
            params: the shield's settings (see `ShieldParams` for each field).
            weights: the frozen networks' files: Q_p (modes "priors", "shield") and the
                encoders by margin (modes "state_only", "shield"); a search over α gives several.
            overrides: `ShieldParams` fields; ValueError names an unknown one.
        """
        unknown = set(overrides) - set(ShieldParams.names())
        if unknown:
            raise ValueError(f"unknown shield settings {sorted(unknown)}; accepted: {list(ShieldParams.names())}")
        self.shield_params = replace(self.shield_params if params is None else params, **overrides)
        if weights is not NotProvided:
            self.shield_weights = weights
        return self

    @override(PaperDQNConfig)
    def to_dict(self) -> dict[str, Any]:
        """RLlib's config dict, the shield as ``shield_config`` (its fields and "weights")."""
        config = super().to_dict()
        params, weights = config.pop("shield_params"), config.pop("shield_weights")
        config[SHIELD_CONFIG] = params.to_dict() | {WEIGHTS: weights}
        return config

    @override(PaperDQNConfig)
    def update_from_dict(self, config_dict: dict[str, Any]) -> ShieldedDQNConfig:
        """RLlib's update, reading ``shield_config`` back into `shield`: the one place where
        the shield's settings come from a dict (Tune's resolved param space)."""
        config_dict = dict(config_dict)
        shield = config_dict.pop(SHIELD_CONFIG, None)
        super().update_from_dict(config_dict)
        if shield is not None:
            shield = dict(shield)
            weights = shield.pop(WEIGHTS, NotProvided)
            self.shield(ShieldParams(), weights=weights, **shield)
        return self

    @property
    @override(PaperDQNConfig)
    def _model_config_auto_includes(self) -> dict[str, Any]:
        """The shield reaches the RLModule as ``model_config["shield"]`` (`ShieldParams`) and
        ``model_config["shield_weights"]`` (`WeightFiles`)."""
        shield = {"shield": self.shield_params, "shield_weights": self.shield_weights}
        return super()._model_config_auto_includes | shield

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
        check_env_id(self.env)
        obs = self.env_config.get("obs", "symbolic")
        check_obs_kind(obs)
        if obs == "pixels":
            check_pixels_fit(self.env)
        check_lava_look(self.env_config.get("lava_look", DEFAULT_LAVA_LOOK), obs)
        layout_seed = self.env_config.get("layout_seed")
        if layout_seed is not None and (isinstance(layout_seed, bool) or int(layout_seed) != layout_seed):
            raise ValueError(f"layout_seed must be an integer or None, got {layout_seed!r}")
        if not isinstance(self.shield_params, ShieldParams):
            raise ValueError(f"shield settings must be a ShieldParams, got {type(self.shield_params).__name__}")
        if not isinstance(self.shield_weights, WeightFiles):
            raise ValueError(f"weights must be a shield.weights.WeightFiles, got {type(self.shield_weights).__name__}")
        Shield.load(self.shield_params, self.shield_weights, obs, side=grid_side(self.env))


class ShieldedDQN(PaperDQN):
    """PaperDQN whose default config is `ShieldedDQNConfig`."""

    @classmethod
    @override(PaperDQN)
    def get_default_config(cls) -> ShieldedDQNConfig:
        """`ShieldedDQNConfig`: the paper's DQN with the paper's shield settings."""
        return ShieldedDQNConfig()

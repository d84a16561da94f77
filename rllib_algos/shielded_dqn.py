"""ShieldedDQN: PaperDQN with the shield on exploration.

    from rllib_algos import ShieldedDQNConfig

    config = (
        ShieldedDQNConfig()
        .environment("MiniGrid-LavaCrossingS9N1-v0", env_config={"obs": "symbolic", "layout_seed": 123})
        .shield(mode="shield", d_max=2.5, encoder_path=..., prior_q_path=...)
    )
    algo = config.build_algo()

DQN settings: the paper's, from `PaperDQNConfig`. Shield settings: `.shield(...)`, each
defaulting to the paper's value. Metrics: `ShieldCallbacks`.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_algos.callbacks import ShieldCallbacks
from rllib_algos.envs import register_envs
from rllib_algos.paper_dqn import PaperDQN, PaperDQNConfig
from rllib_algos.rl_module import ShieldedDQNModule, encoder_path_of
from shield.decision import ShieldParams
from shield.envs import check_env_id, check_obs_kind
from shield.weights import load_frozen

_SHIELD_KEYS = ("mode", "d_max", "rho", "k", "buffer_size", "tau", "margin", "encoder_path", "prior_q_path")
_NOT_PARAMS = ("margin", "encoder_path", "prior_q_path")


class ShieldedDQNConfig(PaperDQNConfig):
    """PaperDQNConfig with a `.shield(...)` builder and the shield's validation."""

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or ShieldedDQN)
        self.shield_config: dict[str, Any] = ShieldParams().to_dict() | dict.fromkeys(_NOT_PARAMS)
        self.env_config = {"obs": "symbolic"}
        self.callbacks_class = ShieldCallbacks

    def shield(
        self,
        *,
        mode: str = NotProvided,
        d_max: float = NotProvided,
        rho: float = NotProvided,
        k: int = NotProvided,
        buffer_size: int = NotProvided,
        tau: float = NotProvided,
        margin: float | None = NotProvided,
        encoder_path: str | dict[str, str] | None = NotProvided,
        prior_q_path: str | None = NotProvided,
    ) -> ShieldedDQNConfig:
        """Set the shield (see `shield.decision.ShieldParams`; unset arguments keep theirs).

        Args:
            mode: "dqn", "priors" or "shield" (default "shield").
            d_max: latent distance threshold (default 2.5).
            rho: probability of acting on a flagged state (default 0.95).
            k: nearest unsafe embeddings averaged (default 10).
            buffer_size: unsafe-embedding ring capacity (default 100).
            tau: action threshold on Q_p(s,a) − mean Q_p(s,·) (default 0).
            margin: contrastive margin α the encoder was trained with (recorded in
                results; the encoder file is what the shield uses).
            encoder_path: weight file of the frozen encoder (mode "shield"), or a dict
                {str(float(margin)): file} from which `margin` picks one (searches over α).
            prior_q_path: weight file of the frozen Q_p (modes "priors", "shield").
        """
        given = dict(mode=mode, d_max=d_max, rho=rho, k=k, buffer_size=buffer_size, tau=tau, margin=margin)
        given |= dict(encoder_path=encoder_path, prior_q_path=prior_q_path)
        self.shield_config = self.shield_config | {key: v for key, v in given.items() if v is not NotProvided}
        return self

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return super()._model_config_auto_includes | {"shield": dict(self.shield_config)}

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=ShieldedDQNModule)

    def validate(self) -> None:
        """RLlib's checks, then the shield's: raise ValueError before any actor starts."""
        self.validate_shield()
        super().validate()

    def validate_shield(self) -> None:
        """Check the environment, the shield parameters and the weight files."""
        unknown = set(self.shield_config) - set(_SHIELD_KEYS)
        if unknown:
            raise ValueError(f"unknown shield settings {sorted(unknown)}; accepted: {list(_SHIELD_KEYS)}")
        check_env_id(self.env)
        obs = self.env_config.get("obs", "symbolic")
        check_obs_kind(obs)
        layout_seed = self.env_config.get("layout_seed")
        if layout_seed is not None and (isinstance(layout_seed, bool) or int(layout_seed) != layout_seed):
            raise ValueError(f"layout_seed must be an integer or None, got {layout_seed!r}")
        params = ShieldParams.from_settings(self.shield_config)
        if params.mode == "shield":
            load_frozen(encoder_path_of(self.shield_config), "encoder", obs)
        if params.mode != "dqn":
            load_frozen(self.shield_config["prior_q_path"], "prior_q", obs)


class ShieldedDQN(PaperDQN):
    """PaperDQN whose default config is `ShieldedDQNConfig`."""

    @classmethod
    def get_default_config(cls) -> ShieldedDQNConfig:
        return ShieldedDQNConfig()


register_envs()

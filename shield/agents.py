"""Agent presets: named sets of DQN settings applied on top of `PaperDQNConfig`.

``paper`` is the paper's DQN exactly (1-step returns). ``nstep3`` is shieldsweep's
default: the same agent with 3-step returns, which learns LavaCrossingS9N1 on far more
layouts within 200K steps (measured in docs/method.md, "Agent presets"). Neither
changes the task: both act with MiniGrid's 7 actions on the environment's own reward.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentPreset:
    """n_step: steps of the bootstrapped return (RLlib's `n_step`); deviations: how the
    preset differs from the paper, one line each (recorded in manifests)."""

    name: str
    n_step: int
    deviations: tuple[str, ...] = ()


AGENT_PRESETS: dict[str, AgentPreset] = {
    "paper": AgentPreset("paper", n_step=1),
    "nstep3": AgentPreset("nstep3", n_step=3, deviations=("3-step returns (paper: 1-step)",)),
}
PAPER_AGENT = "paper"
PAPER_ENV_STEPS = 200_000  # environment steps the paper trains each agent (and reports its figures at)
DEFAULT_AGENT = "nstep3"


def agent_preset(name: str) -> AgentPreset:
    """The preset called `name`; ValueError naming the choices otherwise."""
    if name not in AGENT_PRESETS:
        raise ValueError(f"unknown agent preset {name!r} (--agent): choose one of {sorted(AGENT_PRESETS)}")
    return AGENT_PRESETS[name]

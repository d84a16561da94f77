"""A plain PyTorch double-DQN loop: the speed limit of this machine for the paper's agent.

No Ray, no RLlib: 8 synchronous vector envs, ε-greedy acting with the same `QNetwork`,
the same prioritised `TransitionReplay` (uint8 observations), the same settings as
`PaperDQNConfig` (Adam 2.5e-4, batch 128, γ 0.99, Huber loss, gradient norm clip 40,
target copy every 500 env steps, one update per 10 env steps). Written for
`benchmarks/throughput.py`; `python benchmarks/plain_dqn.py` trains it once and prints its
learning curve.

The loop takes a `shield.shield.Shield`, the same object the RLlib module uses: it calls
``shield.decide`` on every step's ε-greedy actions and ``shield.record_violation`` after
each lava death. ``--oracle-shield RHO`` gives it the ground-truth encoder and Q_p
(`shield.oracle`; once more than 3 deaths are stored, forward into lava is replaced w.p.
ρ by a random other action): the best any learned shield can do for this agent.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch

from rllib_algos.paper_dqn import PaperDQNConfig, for_env_steps, linear
from rllib_algos.replay import TransitionReplay
from shield.envs import DEFAULT_ENV, make_env
from shield.networks import QNetwork
from shield.oracle import OracleEncoder, OracleQ
from shield.settings import ShieldParams
from shield.shield import Decision, Shield


class PlainDQN:
    """Double DQN with prioritised replay over `num_envs` vector envs (see module docstring)."""

    def __init__(
        self,
        env_id: str,
        obs: str,
        layout_seed: int,
        total_steps: int,
        warmup: int | None = None,
        seed: int = 0,
        shield: Shield | None = None,
        target_period: int | None = None,
    ):
        """`total_steps` scales ε, β and (unless `warmup` is given) the learning start, as `for_env_steps`.

        `shield`: filters the exploration (None: plain DQN).
        `target_period`: env steps between target-network copies (default the paper's 500).
        """
        paper = for_env_steps(PaperDQNConfig(), total_steps)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.envs = gym.vector.SyncVectorEnv(
            [lambda: make_env(env_id, obs, layout_seed) for _ in range(paper.num_envs_per_env_runner)]
        )
        self.q = QNetwork(obs)
        self.target = QNetwork(obs)
        self.target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=paper.lr, eps=1e-8)
        space = self.envs.single_observation_space
        self.replay = TransitionReplay(
            paper.replay_buffer_config["capacity"], space.shape, space.dtype, paper.replay_buffer_config["alpha"]
        )
        self.gamma, self.batch = paper.gamma, paper.train_batch_size_per_learner
        self.target_every = target_period or paper.target_network_update_freq
        self.grad_clip = paper.grad_clip
        self.update_every = round(paper.train_batch_size_per_learner / paper.training_intensity)  # env steps
        self.epsilon, self.beta = paper.epsilon, paper.replay_beta
        self.warmup = paper.num_steps_sampled_before_learning_starts if warmup is None else warmup
        self.steps = 0
        self._since_update = 0
        self._since_target = 0
        self.obs, _ = self.envs.reset(seed=seed)
        self.autoreset = np.zeros(self.envs.num_envs, dtype=bool)
        self._episode_return = np.zeros(self.envs.num_envs)
        self.returns: list[float] = []  # finished episodes' returns, in order
        self.violations = 0  # lava deaths
        self.shield = shield
        self.interventions = 0  # actions the shield replaced

    def shielded(self, obs: np.ndarray, proposed: np.ndarray) -> Decision | None:
        """The shield's decision on `proposed` actions [num_envs] in `obs` (None without a shield)."""
        if self.shield is None:
            return None
        decision = self.shield.decide(torch.from_numpy(obs), torch.from_numpy(proposed))
        self.interventions += int(decision.replaced.sum())
        return decision

    def act(self) -> np.ndarray:
        """ε-greedy actions [num_envs]."""
        with torch.no_grad():
            greedy = self.q(torch.from_numpy(self.obs)).argmax(dim=1).numpy()
        explore = self.rng.random(len(greedy)) < linear(self.epsilon, self.steps)
        random = self.rng.integers(self.envs.single_action_space.n, size=len(greedy))
        return np.where(explore, random, greedy)

    def update(self) -> None:
        idx, b = self.replay.sample(self.batch, linear(self.beta, self.steps), self.rng)
        obs, next_obs = torch.from_numpy(b["obs"]), torch.from_numpy(b["next_obs"])
        actions = torch.from_numpy(b["actions"])
        with torch.no_grad():
            next_actions = self.q(next_obs).argmax(dim=1, keepdim=True)
            next_q = self.target(next_obs).gather(1, next_actions).squeeze(1)
            alive = 1.0 - torch.from_numpy(b["terminateds"]).float()
            target = torch.from_numpy(b["rewards"]) + self.gamma * alive * next_q
        q = self.q(obs).gather(1, actions[:, None]).squeeze(1)
        td = q - target
        loss = (torch.from_numpy(b["weights"]) * torch.nn.functional.huber_loss(q, target, reduction="none")).mean()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q.parameters(), self.grad_clip)
        self.optimizer.step()
        self.replay.update_priorities(idx, td.detach().numpy())

    def run(self, env_steps: int) -> None:
        """Act, store and learn for `env_steps` more environment steps."""
        end = self.steps + env_steps
        while self.steps < end:
            actions = self.act()
            decision = self.shielded(self.obs, actions)
            if decision is not None:
                actions = decision.actions.numpy()
            next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
            real = ~self.autoreset  # a step after an episode's end only resets that env
            self.replay.add(self.obs[real], actions[real], rewards[real], next_obs[real], terminated[real])
            self.autoreset = terminated | truncated
            self._episode_return += np.where(real, rewards, 0.0)
            died = real & (np.asarray(infos.get("cost", 0.0)) > 0)
            self.violations += int(np.count_nonzero(died))
            if self.shield is not None:
                for i in np.flatnonzero(died):
                    self.shield.record_violation(self.obs[i])
            for i in np.flatnonzero(self.autoreset & real):
                self.returns.append(float(self._episode_return[i]))
                self._episode_return[i] = 0.0
            self.obs = next_obs
            n = int(real.sum())
            self.steps += n
            self._since_update += n
            self._since_target += n
            if self.steps >= self.warmup:
                while self._since_update >= self.update_every:
                    self.update()
                    self._since_update -= self.update_every
                if self._since_target >= self.target_every:
                    self.target.load_state_dict(self.q.state_dict())
                    self._since_target = 0
            else:
                self._since_update = 0


def learn(
    env_id: str,
    obs: str,
    layout_seed: int,
    total_steps: int,
    oracle_rho: float = 0.0,
    report_every: int = 10_000,
    target_period: int | None = None,
) -> PlainDQN:
    """Train for `total_steps` (the paper's schedule) printing the mean return of the last
    100 episodes and the violations so far every `report_every` steps."""
    shield = None
    if oracle_rho > 0:
        shield = Shield(ShieldParams(mode="shield", rho=oracle_rho), OracleEncoder(), OracleQ())
    agent = PlainDQN(
        env_id, obs, layout_seed, total_steps, seed=layout_seed, shield=shield, target_period=target_period
    )
    start = time.perf_counter()
    while agent.steps < total_steps:
        agent.run(report_every)
        recent = agent.returns[-100:]
        mean = float(np.mean(recent)) if recent else float("nan")
        elapsed = time.perf_counter() - start
        print(
            f"{agent.steps} steps  return {mean:.3f}  violations {agent.violations}  "
            f"interventions {agent.interventions}  {elapsed:.0f} s",
            flush=True,
        )
    return agent


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train the plain loop once and print its learning curve.")
    parser.add_argument("--obs", choices=["symbolic", "pixels"], default="symbolic")
    parser.add_argument("--env", default=DEFAULT_ENV)
    parser.add_argument("--layout-seed", type=int, default=123)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--oracle-shield", type=float, default=0.0, metavar="RHO", help="ground-truth shield with this rho (0: off)"
    )
    parser.add_argument(
        "--target-period", type=int, default=None, help="env steps between target copies (default: the paper's 500)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    learn(args.env, args.obs, args.layout_seed, args.steps, args.oracle_shield, target_period=args.target_period)

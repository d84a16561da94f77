"""Why the state check drifts during training: one real trial, instrumented, then replayed.

Runs one ShieldedDQN trial (the study's own configuration: `trial_config`) and records
every state the shield decided on (observation, D, flagged) and every observation that
preceded a lava death, in order, plus the agent's greedy path after each iteration. Then
it replays that stream of deaths through other unsafe-buffer rules, k and thresholds, and
prints, per quarter of the run, how each would have flagged the states the agent really
visited. The replay holds the agent's behaviour fixed (the shield it ran with drove it);
it tells which part of the rule makes the flags, not how a retrained agent would fare.

python benchmarks/shield_drift.py --env MiniGrid-LavaCrossingS9N1-v0 --layout 789 --out drift-789.npz
python benchmarks/shield_drift.py --analyse drift-789.npz      # then the replay tables
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shield.oracle import lava_ahead_from_grid  # noqa: E402
from shield.settings import ShieldParams  # noqa: E402


def agent_cell(obs: np.ndarray) -> np.ndarray:
    """uint8 symbolic obs [N, W, H, 3] → [N, 3] (x, y, direction) of the agent."""
    obs = np.asarray(obs)
    flat = (obs[..., 0] == 10).reshape(len(obs), -1).argmax(axis=1)
    x, y = flat // obs.shape[2], flat % obs.shape[2]
    return np.stack([x, y, obs[np.arange(len(obs)), x, y, 2]], axis=1)


def run(args: argparse.Namespace) -> None:
    import ray

    from rllib_algos.envs import register_envs
    from rllib_algos.pretrain import ensure_artifacts
    from rllib_algos.trial_config import TrialLength, trial_config
    from shield.artifacts import ArtifactStore
    from shield.envs import make_env

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    register_envs()
    setting = ShieldParams(**args.setting)
    weights = ensure_artifacts("symbolic", "quick", margins=[setting.margin], store=ArtifactStore(args.artifact_dir))
    config = trial_config(
        args.env, "symbolic", args.agent, TrialLength(args.steps, args.iterations, 1), setting, weights
    )
    config = config.environment(env_config={"obs": "symbolic", "layout_seed": args.layout}).debugging(seed=args.layout)
    algo = config.build_algo()
    module = algo.env_runner.module
    shield = module.shield
    log: dict[str, list] = {"obs": [], "D": [], "flagged": [], "death_obs": [], "death_step": []}
    steps = [0]
    decide, record = shield.decide, shield.record_violation

    def logged_decide(obs, proposed):
        decision = decide(obs, proposed)
        log["obs"].append(obs.numpy().copy())
        log["D"].append(decision.distance.numpy().copy())
        log["flagged"].append(decision.flagged.numpy().copy())
        steps[0] += len(obs)
        return decision

    def logged_record(obs):
        log["death_obs"].append(np.asarray(obs).copy())
        log["death_step"].append(steps[0])
        record(obs)

    shield.decide, shield.record_violation = logged_decide, logged_record
    env = make_env(args.env, "symbolic", layout_seed=args.layout)
    paths, path_iteration, returns = [], [], []
    for iteration in range(args.iterations):
        result = algo.train()
        returns.append(result["env_runners"]["shield"].get("return_final", np.nan))
        obs, _ = env.reset()
        for _ in range(100):  # the greedy path (shield off)
            paths.append(obs)
            path_iteration.append(iteration)
            with torch.no_grad():
                q = module.compute_q_values({"obs": torch.as_tensor(obs)[None]})["qf_preds"]
            obs, _, terminated, truncated, _ = env.step(int(q.argmax()))
            if terminated or truncated:
                break
        print(
            f"iteration {iteration + 1}: {steps[0]} steps, return_final {returns[-1]:.3f}, "
            f"deaths {len(log['death_step'])}",
            flush=True,
        )
    np.savez_compressed(
        args.out,
        obs=np.concatenate(log["obs"]),
        D=np.concatenate(log["D"]),
        flagged=np.concatenate(log["flagged"]),
        death_obs=np.array(log["death_obs"]),
        death_step=np.array(log["death_step"]),
        path_obs=np.array(paths),
        path_iteration=np.array(path_iteration),
        return_final=np.array(returns),
        env=args.env,
        layout=args.layout,
        margin=setting.margin,
        buffer_rule=setting.buffer_rule,
        artifact_dir=str(args.artifact_dir),
    )
    algo.stop()
    ray.shutdown()
    print(f"wrote {args.out}")


# --- the replay ---------------------------------------------------------------------------


def unique_latents(obs: np.ndarray, encoder) -> tuple[np.ndarray, np.ndarray]:
    """(latents of the distinct observations [U, latent_dim], index of each row into them [N])."""
    flat = obs.reshape(len(obs), -1)
    distinct, inverse = np.unique(flat, axis=0, return_inverse=True)
    with torch.no_grad():
        z = torch.cat(
            [encoder(torch.as_tensor(distinct[i : i + 1]).reshape(1, *obs.shape[1:])) for i in range(len(distinct))]
        )
    return z.numpy(), inverse.ravel()


class Replayed:
    """One variant of the state check, fed the recorded deaths in order."""

    def __init__(self, name: str, rule: str = "ring", k: int = 10, capacity: int = 100, cap: float | None = None):
        self.name, self.rule, self.k, self.capacity, self.cap = name, rule, k, capacity, cap
        self.rows: list[np.ndarray] = []
        self.recent_D: list[np.ndarray] = []

    def add(self, z: np.ndarray) -> None:
        if self.rule == "distinct" and self.rows and np.min(np.linalg.norm(np.array(self.rows) - z, axis=1)) <= 1e-6:
            return
        self.rows.append(z)
        self.rows = self.rows[-self.capacity :]

    def distance(self, z: np.ndarray) -> np.ndarray:
        if len(self.rows) <= 3:
            return np.full(len(z), np.inf)
        rows = np.array(self.rows)
        d = np.linalg.norm(z[:, None, :] - rows[None], axis=2)
        k = min(self.k, len(rows))
        return np.sort(d, axis=1)[:, :k].mean(axis=1)

    def threshold(self, d_max: float) -> float:
        if self.cap is None or not self.recent_D:
            return d_max
        recent = np.concatenate(self.recent_D)[-10_000:]
        recent = recent[np.isfinite(recent)]
        return min(d_max, float(np.quantile(recent, self.cap))) if len(recent) else d_max


def replay(variant: Replayed, z_states, idx, death_z, death_step, d_max: float, block: int = 400):
    """Per visited state: (D, threshold) under `variant`, the buffer as it stood at that step."""
    n = len(idx)
    D, thr = np.empty(n), np.empty(n)
    cuts = sorted(set(range(0, n, block)) | {int(s) for s in death_step if s < n} | {n})
    deaths = iter(zip(death_step, death_z, strict=True))
    pending = next(deaths, None)
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        while pending is not None and pending[0] <= start:
            variant.add(pending[1])
            pending = next(deaths, None)
        u, inv = np.unique(idx[start:stop], return_inverse=True)
        D[start:stop] = variant.distance(z_states[u])[inv.ravel()]
        thr[start:stop] = variant.threshold(d_max)
        variant.recent_D.append(D[start:stop])
        variant.recent_D = variant.recent_D[-30:]
    return D, thr


def analyse(path: Path, d_max: float = 2.5, parts: int = 4) -> None:
    import pandas as pd

    from rllib_algos.pretrain import ensure_artifacts
    from shield.artifacts import ArtifactStore
    from shield.weights import load_frozen

    data = np.load(path)
    weights = ensure_artifacts(
        "symbolic",
        "quick",
        margins=[float(data["margin"])],
        store=ArtifactStore(str(data["artifact_dir"])),
        progress=lambda *a: None,
    )
    encoder = load_frozen(weights.encoder(float(data["margin"])), "encoder", "symbolic")
    obs, logged_D = data["obs"], data["D"]
    unsafe = lava_ahead_from_grid(torch.as_tensor(obs)).numpy()
    z, idx = unique_latents(obs, encoder)
    death_z = np.zeros((0, z.shape[1]))
    if len(data["death_obs"]):
        distinct, inverse = unique_latents(data["death_obs"], encoder)
        death_z = distinct[inverse]
    death_step = data["death_step"]
    n, returns = len(obs), data["return_final"]
    quarter = np.minimum(np.arange(n) * parts // n, parts - 1)
    print(
        f"{data['env']} layout {int(data['layout'])}: {n} steps, {len(death_step)} deaths; return_final by quarter "
        + " / ".join(f"{returns[min(len(returns) - 1, (q + 1) * len(returns) // parts - 1)]:.3f}" for q in range(parts))
    )

    # which embeddings enter the buffer, and how far they lie from the agent's own safe states
    cells = agent_cell(data["death_obs"]) if len(death_step) else np.zeros((0, 3), int)
    path_cells = agent_cell(data["path_obs"])
    rows = []
    for q in range(parts):
        lo, hi = q * n // parts, (q + 1) * n // parts
        inq = (death_step >= lo) & (death_step < hi)
        safe = np.unique(idx[lo:hi][~unsafe[lo:hi]])
        last_iter = data["path_iteration"].max() * (q + 1) // parts
        path_xy = {tuple(c[:2]) for c in path_cells[data["path_iteration"] == last_iter]}
        near_safe = (
            np.linalg.norm(death_z[inq][:, None] - z[safe][None], axis=2).min(axis=1)
            if inq.any() and len(safe)
            else np.array([np.nan])
        )
        # the greedy path after the quarter's last iteration, against the ring of that moment
        path_z = unique_latents(data["path_obs"][data["path_iteration"] == last_iter], encoder)
        ring = Replayed("ring")
        for step, row in zip(death_step, death_z, strict=True):
            if step <= hi:
                ring.add(row)
        path_D = ring.distance(path_z[0])[path_z[1]]
        rows.append(
            dict(
                quarter=q + 1,
                path_D_median=float(np.median(path_D)),
                path_flagged=float(np.mean(path_D < d_max)),
                deaths=int(inq.sum()),
                distinct_states=len({tuple(c) for c in cells[inq]}),
                on_greedy_path=float(np.mean([tuple(c[:2]) in path_xy for c in cells[inq]])) if inq.any() else np.nan,
                nearest_safe_median=float(np.median(near_safe)),
            )
        )
    print(
        "\nDeaths entering the buffer (each a lava-ahead state), by quarter of the run, and D of the greedy"
        " path's states (ring buffer, k 10) at the quarter's end:"
    )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))

    oracle = Replayed("oracle buffer: every lava-ahead state seen in the run, k 10", capacity=10**6)
    for u in np.unique(idx[unsafe]):
        oracle.add(z[u])
    variants = [
        Replayed("ring 100, k 10 (paper)"),
        Replayed("ring 100, k 1", k=1),
        Replayed("distinct 100, k 10", rule="distinct"),
        Replayed("distinct 100, k 1", rule="distinct", k=1),
        Replayed("ring 100, k 10, flag-rate cap 0.2", cap=0.2),
        Replayed("distinct 100, k 10, flag-rate cap 0.2", rule="distinct", cap=0.2),
    ]
    table = []
    for variant in variants:
        D, thr = replay(variant, z, idx, death_z, death_step, d_max)
        ran = str(data["buffer_rule"]) if "buffer_rule" in data else "ring"  # files from before the setting
        if variant.rule == ran and variant.k == 10 and variant.cap is None:
            finite = np.isfinite(logged_D)
            print(
                f"\nreplay check: the {ran} variant's D equals the logged D on "
                f"{np.mean(np.isclose(D[finite], logged_D[finite], atol=1e-4)):.4f} of checked steps"
            )
        table.append((variant.name, D < thr))
    D_oracle = oracle.distance(z)[idx]
    table.append((oracle.name, D_oracle < d_max))
    rows = []
    for name, flag in table:
        for q in range(parts):
            sel = quarter == q
            f, u = flag[sel], unsafe[sel]
            rows.append(
                dict(
                    variant=name,
                    quarter=q + 1,
                    flag_rate=f.mean(),
                    precision=u[f].mean() if f.any() else np.nan,
                    recall=f[u].mean() if u.any() else np.nan,
                )
            )
    print(f"\nThe state check on the states the agent visited (d_max {d_max}, before the rho draw):")
    print(
        pd.DataFrame(rows)
        .pivot(index="variant", columns="quarter", values=["flag_rate", "precision", "recall"])
        .round(3)
        .to_string()
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="MiniGrid-LavaCrossingS9N1-v0")
    parser.add_argument("--layout", type=int, default=789)
    parser.add_argument("--agent", default="nstep3")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--artifact-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--set", dest="setting", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=Path("drift.npz"))
    parser.add_argument("--analyse", type=Path, default=None)
    args = parser.parse_args()
    types = ShieldParams.types()
    args.setting = {k: types[k](v) for k, v in (item.split("=", 1) for item in args.setting)}
    if args.analyse is None:
        run(args)  # then: --analyse OUT (Ray's shutdown ends this process)
    else:
        analyse(args.analyse)

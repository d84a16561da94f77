"""What a PaperDQN checkpoint holds beyond RLlib's own state, so that a restored trial
continues exactly as the uninterrupted one would.

RLlib checkpoints the networks, the optimizer, the metrics (hence the env-step counter that
drives ε and β, and the Learner's last target update) and the connectors. It does not
keep what lives outside them:

- the transition replay (observations, actions, rewards, n-step spans, priorities, write
  position) and its sampling RNG; the n-step assembler's pending episode tails;
- the sampling EnvRunner's environments mid-episode, its ongoing episode chunks and the
  observations already prepared for the next forward pass;
- the DQN Learner's env step of its last target-network copy;
- the callbacks' windows (``return_final``, the distance quantiles), the module's extra
  state (the shield's unsafe buffer, adaptive threshold and generator);
- the process's global RNGs (torch, numpy, random), which ε-greedy and the shield draw from.

`write` stores them beside RLlib's files in ``<checkpoint>/resume/``; `read` puts them back.
Observation arrays are compressed with zstd (MiniGrid frames are mostly flat colour: a
pixel replay of 10,000 transitions, 423 MB raw, compresses to a few percent of that).

Sampling state is taken from the local EnvRunner, which is the one that samples when
``num_env_runners`` is 0, as in every shieldsweep trial. With remote EnvRunners their
environments restart their episodes after a restore, as in RLlib.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from ray import cloudpickle

from rllib_algos.replay import TransitionReplay

RESUME_DIR = "resume"
_REPLAY = "replay.npz"
_OBS = ("obs", "next_obs")
_STATE = "state.pkl"
_CODEC = "zstd"
_LEVEL = 3  # zstd's default: ~1 GB/s on MiniGrid frames, within 2x of the best ratio


_CHECKSUMS = "checksums.json"
# what RLlib writes for a PaperDQN (new API stack) besides our folder
RLLIB_PARTS = ("class_and_ctor_args.pkl", "algorithm_state.pkl", "learner_group", "env_runner")


class CorruptCheckpointError(RuntimeError):
    """A checkpoint's files are missing, truncated or unreadable."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_checkpoint(checkpoint: Path) -> None:
    """Raise CorruptCheckpointError, naming the file, unless `checkpoint` holds RLlib's parts
    and resume files whose checksums match those written with them. Reads every resume
    byte (a pixel checkpoint: tens of MB) but builds nothing."""
    checkpoint = Path(checkpoint)
    missing = [part for part in RLLIB_PARTS if not (checkpoint / part).exists()]
    if missing:
        raise CorruptCheckpointError(f"{checkpoint} lacks {', '.join(missing)}")
    folder = checkpoint / RESUME_DIR
    if not folder.exists():
        return  # written by another tool: RLlib's own state only
    try:
        expected = json.loads((folder / _CHECKSUMS).read_text())
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(f"{folder / _CHECKSUMS} is unreadable ({error})") from error
    for name, digest in expected.items():
        path = folder / name
        if not path.exists() or _sha256(path) != digest:
            raise CorruptCheckpointError(f"{path} is missing or damaged (its checksum does not match)")


def _compress(array: np.ndarray) -> bytes:
    return pa.compress(np.ascontiguousarray(array).view(np.uint8).reshape(-1), codec=_CODEC, asbytes=True)


def _decompress(data: bytes, like: np.ndarray) -> np.ndarray:
    raw = pa.decompress(data, decompressed_size=like.nbytes, codec=_CODEC, asbytes=True)
    return np.frombuffer(raw, dtype=like.dtype).reshape(like.shape).copy()


def replay_state(replay: TransitionReplay) -> tuple[dict[str, np.ndarray], dict[str, bytes]]:
    """(small arrays and counters, compressed observation arrays) of `replay`'s filled rows."""
    n = replay.size
    arrays = {
        "actions": replay.actions[:n],
        "rewards": replay.rewards[:n],
        "terminateds": replay.terminateds[:n],
        "n_steps": replay.n_steps[:n],
        "priorities": replay.priorities[:n],
        "counters": np.array([replay.size, replay.next], dtype=np.int64),
        "max_priority": np.array(replay.max_priority),
    }
    return arrays, {key: _compress(getattr(replay, key)[:n]) for key in _OBS}


def set_replay_state(replay: TransitionReplay, arrays: dict[str, np.ndarray], obs: dict[str, bytes]) -> None:
    """Fill `replay` (same capacity and observation shape) from `replay_state`'s output."""
    size, nxt = (int(v) for v in arrays["counters"])
    if size > replay.capacity:
        raise CorruptCheckpointError(
            f"the checkpoint's replay holds {size} rows, this trial's capacity is {replay.capacity}"
        )
    for key in ("actions", "rewards", "terminateds", "n_steps", "priorities"):
        getattr(replay, key)[:size] = arrays[key]
    for key in _OBS:
        getattr(replay, key)[:size] = _decompress(obs[key], getattr(replay, key)[:size])
    replay.size, replay.next = size, nxt
    replay.max_priority = float(arrays["max_priority"])


def global_rng_state() -> dict[str, Any]:
    """The process-wide RNG states: torch (CPU), numpy's legacy global, Python's `random`."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])


# The SingleAgentEnvRunner attributes that carry sampling from one `sample()` call to the
# next (Ray 2.60): episode chunks, the prepared next forward input, the callbacks' windows.
# Its environments are saved apart (`vector_env_state`).
_RUNNER_ATTRS = (
    "_ongoing_episodes",
    "_ongoing_episodes_for_metrics",
    "_cached_to_module",
    "_shared_data",
    "_needs_initial_reset",
    "_callbacks",
)


def _vector_env(env):
    """The gymnasium vector env inside `env`'s vector wrappers (the one holding ``envs``)."""
    while not hasattr(env, "envs") and hasattr(env, "env"):
        env = env.env
    return env


def vector_env_state(env) -> dict[str, Any]:
    """The sub-environments (mid-episode, with their RNGs) and the vector env's step
    buffers. Not ``env_fns``: the constructors, a spent generator, are not needed again."""
    return {key: value for key, value in vars(_vector_env(env)).items() if key != "env_fns"}


def sampling_state(env_runner) -> dict[str, Any]:
    """What the next `sample()` of `env_runner` depends on (see module docstring)."""
    state = {name: getattr(env_runner, name) for name in _RUNNER_ATTRS if hasattr(env_runner, name)}
    state["env"] = vector_env_state(env_runner.env)
    module_state = getattr(env_runner.module, "resume_state", None)
    state["module"] = module_state() if module_state is not None else None
    return state


def set_sampling_state(env_runner, state: dict[str, Any]) -> None:
    """Put `sampling_state`'s output back into `env_runner` (built from the same config)."""
    vars(_vector_env(env_runner.env)).update(state["env"])
    for name in _RUNNER_ATTRS:
        if name in state:
            setattr(env_runner, name, state[name])
    if state.get("module") is not None:
        env_runner.module.set_resume_state(state["module"])


def _target_update_steps(learner) -> dict[str, int]:
    return dict(learner.last_update_ts_by_mid)


def target_update_steps(learner_group) -> dict[str, int]:
    """{module id: env steps at the last target-network copy} of the (first) Learner. RLlib's
    DQN Learner keeps it in an attribute its state leaves out, so a restored Learner would
    copy the target network at its first update instead of 500 steps after the last."""
    return next(iter(learner_group.foreach_learner(_target_update_steps))).get()


def set_target_update_steps(learner_group, steps: dict[str, int]) -> None:
    learner_group.foreach_learner(lambda learner: learner.last_update_ts_by_mid.update(steps))


def write(checkpoint: Path, algo) -> Path:
    """Write the resume state of `algo` (a `PaperDQN`) into ``<checkpoint>/resume/``; return
    that folder."""
    env_runner = algo.env_runner
    folder = Path(checkpoint) / RESUME_DIR
    folder.mkdir(parents=True, exist_ok=True)
    arrays, obs = replay_state(algo.transitions)
    np.savez(folder / _REPLAY, **arrays, **{key: np.frombuffer(data, dtype=np.uint8) for key, data in obs.items()})
    state = {
        "replay_rng": algo._replay_rng.bit_generator.state,
        "n_step_pending": algo.n_step_returns.pending,
        "sampling": sampling_state(env_runner) if env_runner is not None else None,
        "rng": global_rng_state(),
        "target_update_steps": target_update_steps(algo.learner_group),
    }
    # cloudpickle: a vector env holds the lambdas that built its sub-envs
    (folder / _STATE).write_bytes(cloudpickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    checksums = {name: _sha256(folder / name) for name in (_REPLAY, _STATE)}
    (folder / _CHECKSUMS).write_text(json.dumps(checksums, indent=1))
    return folder


def read(checkpoint: Path, algo) -> bool:
    """Restore into `algo` (a `PaperDQN` of the same config) what `write` stored in
    `checkpoint`; False when it holds no resume state (a checkpoint of another tool),
    CorruptCheckpointError when it is unreadable."""
    env_runner = algo.env_runner
    folder = Path(checkpoint) / RESUME_DIR
    if not folder.exists():
        return False
    check_checkpoint(checkpoint)
    try:
        with np.load(folder / _REPLAY) as stored:
            arrays = {key: stored[key] for key in stored.files if key not in _OBS}
            obs = {key: stored[key].tobytes() for key in _OBS}
        set_replay_state(algo.transitions, arrays, obs)
        state = pickle.loads((folder / _STATE).read_bytes())
    except CorruptCheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable file means the same to the user
        raise CorruptCheckpointError(
            f"cannot read the resume state in {folder} ({type(error).__name__}: {error})"
        ) from error
    algo._replay_rng.bit_generator.state = state["replay_rng"]
    algo.n_step_returns.pending = state["n_step_pending"]
    if env_runner is not None and state["sampling"] is not None:
        set_sampling_state(env_runner, state["sampling"])
    set_target_update_steps(algo.learner_group, state["target_update_steps"])
    set_global_rng_state(state["rng"])
    return True

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

Sampling state is taken from the local EnvRunner, the one that samples (PaperDQN has no
remote EnvRunners). Where RLlib and gymnasium keep this state in private attributes, their
names are in one place (`PRIVATE_ENV_RUNNER_STATE`, `PRIVATE_VECTOR_ENV_STATE`,
`PRIVATE_LEARNER_STATE`); everything else goes through public interfaces.

Checkpoints written before the vector env's state was named (they hold all of its
attributes) restore the same way: only the named ones are read.
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


# RLlib and gymnasium private state we must carry, because neither gives a public way to
# save it: `SingleAgentEnvRunner.get_state` (which RLlib's checkpoint holds) has the module,
# the connectors and the step counter, not the sampling in progress; gymnasium envs have no
# state API (the sub-environments are pickled whole); `DQNLearner.get_state` leaves out the
# step of its last target-network copy. The names are Ray 2.60's and gymnasium 1.2's;
# `tests/rllib_algos/test_resume.py` fails when an upgrade renames, moves or adds to them.
# Nothing else in this project reads or writes them.
PRIVATE_ENV_RUNNER_STATE = (
    "_ongoing_episodes",  # the episode chunks being sampled, one per sub-environment
    "_ongoing_episodes_for_metrics",  # earlier chunks of those episodes, for their metrics
    "_cached_to_module",  # the env-to-module output prepared for the next forward pass
    "_shared_data",  # the connectors' data shared across steps
    "_needs_initial_reset",  # False once the environments have been reset
    "_callbacks",  # the EnvRunner's own callbacks objects (their metric windows)
)
PRIVATE_VECTOR_ENV_STATE = (
    "envs",  # the sub-environments mid-episode, with their RNGs (a public attribute)
    "_autoreset_envs",  # the sub-environments that reset at their next step
)
PRIVATE_LEARNER_STATE = "last_update_ts_by_mid"  # {module id: env steps at the last target copy}


def sampling_state(env_runner) -> dict[str, Any]:
    """What the next `sample()` of `env_runner` depends on (see module docstring)."""
    state = {name: getattr(env_runner, name) for name in PRIVATE_ENV_RUNNER_STATE}
    vector_env = env_runner.env.unwrapped
    state["env"] = {name: getattr(vector_env, name) for name in PRIVATE_VECTOR_ENV_STATE}
    module_state = getattr(env_runner.module, "resume_state", None)
    state["module"] = module_state() if module_state is not None else None
    return state


def set_sampling_state(env_runner, state: dict[str, Any]) -> None:
    """Put `sampling_state`'s output back into `env_runner` (built from the same config)."""
    vector_env = env_runner.env.unwrapped
    for name in PRIVATE_VECTOR_ENV_STATE:
        setattr(vector_env, name, state["env"][name])
    for name in PRIVATE_ENV_RUNNER_STATE:
        setattr(env_runner, name, state[name])
    if state.get("module") is not None:
        env_runner.module.set_resume_state(state["module"])


def _target_update_steps(learner) -> dict[str, int]:
    return dict(getattr(learner, PRIVATE_LEARNER_STATE))


def _set_target_update_steps(learner, steps: dict[str, int]) -> None:
    getattr(learner, PRIVATE_LEARNER_STATE).update(steps)  # a defaultdict(int): keep it one


def target_update_steps(learner_group) -> dict[str, int]:
    """{module id: env steps at the last target-network copy} of the (local) Learner; without
    it a restored Learner would copy the target network at its first update instead of
    ``target_network_update_freq`` steps after the last."""
    return next(iter(learner_group.foreach_learner(_target_update_steps))).get()


def set_target_update_steps(learner_group, steps: dict[str, int]) -> None:
    learner_group.foreach_learner(_set_target_update_steps, steps=steps)


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
    # cloudpickle: the sub-environments' specs hold the lambda RLlib registered their env with
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

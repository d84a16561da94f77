"""MiniGrid crossing environments that report safety violations.

`make_env` is the one factory: it builds one of `ENV_IDS` (the MiniGrid tasks whose hazard
is lava, and the SimpleCrossing source tasks) with a fully observable observation of one
of two kinds and adds to every step's `info`:

- ``cost``: 1.0 when the step ended the episode in lava (a violation), else 0.0
  (the Safety-Gymnasium convention);
- ``unsafe_state``: lava was directly ahead of the agent *before* the step;
- ``unsafe_action``: the step's action was ``forward`` into that lava;
- ``agent_pos``: the agent's cell (x, y) *before* the step (at reset: the start cell), so
  that the steps' positions are the states the agent visited.

Observation kinds (both ``uint8``; networks cast them):

- ``"symbolic"``: MiniGrid's full grid encoding, shape (S, S, 3) indexed [x, y, channel]
  with channels (object type, colour, state/direction);
- ``"pixels"``: the full top-down RGB view, shape (84, 84, 3) (the paper's input),
  rendered at 28 px per tile and averaged over 3×3 blocks.

Lava's appearance (``lava_look``, pixels only; `LAVA_LOOKS`): MiniGrid's orange with black
waves (``"orange"``, the default and the paper's), the same waves on blue (``"blue"``, a
change of colour) or plain orange (``"flat"``, a change of texture). Only lava tiles change;
the layouts, the symbolic grid and the info fields are those of the default.

Grids smaller than the paper's 9×9 (LavaGap S5–S7, DistShift's 9×7) are padded with wall
cells on the right and at the bottom to a 9×9 frame, in both kinds: the start cell stays at
(1, 1), and networks trained on the 9×9 crossings read them unchanged. Larger grids
(LavaCrossingS11N5, 11×11) keep their size, S = `grid_side(env_id)`: symbolic networks
are built for that side (`shield.networks`), and pixels are refused (they are drawn for the
9×9 frame only).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid-* ids with gymnasium)
import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.world_object import Wall
from minigrid.utils.rendering import (
    downsample,
    fill_coords,
    point_in_line,
    point_in_rect,
    point_in_triangle,
    rotate_fn,
)
from minigrid.wrappers import FullyObsWrapper

ENV_IDS: tuple[str, ...] = (
    "MiniGrid-LavaCrossingS9N1-v0",
    "MiniGrid-LavaCrossingS9N2-v0",
    "MiniGrid-LavaCrossingS9N3-v0",
    "MiniGrid-LavaCrossingS11N5-v0",
    "MiniGrid-LavaGapS5-v0",
    "MiniGrid-LavaGapS6-v0",
    "MiniGrid-LavaGapS7-v0",
    "MiniGrid-DistShift1-v0",
    "MiniGrid-DistShift2-v0",
    "MiniGrid-SimpleCrossingS9N1-v0",
    "MiniGrid-SimpleCrossingS9N2-v0",
    "MiniGrid-SimpleCrossingS9N3-v0",
    "MiniGrid-SimpleCrossingS11N5-v0",
)
# The paper's environment: the default of every study and the encoder's training task.
DEFAULT_ENV = "MiniGrid-LavaCrossingS9N1-v0"
OBS_KINDS: tuple[str, ...] = ("symbolic", "pixels")
NUM_ACTIONS = 7
FORWARD = int(Actions.forward)
FRAME = 9  # the paper's grid side: smaller grids are padded to it
PIXELS = 84
_TILE = 28  # 9 tiles * 28 px = 252 = 3 * 84
_WALL = (OBJECT_TO_IDX["wall"], COLOR_TO_IDX["grey"], 0)  # MiniGrid's encoding of a wall cell


def check_env_id(env_id: str) -> None:
    """Raise ValueError naming the accepted ids when `env_id` is not one of them."""
    if env_id not in ENV_IDS:
        raise ValueError(f"env must be one of {list(ENV_IDS)}, got {env_id!r}")


@cache
def grid_size(env_id: str) -> tuple[int, int]:
    """(width, height) of the task's grid, in cells."""
    check_env_id(env_id)
    base = gym.make(env_id).unwrapped
    return int(base.width), int(base.height)


def grid_side(env_id: str) -> int:
    """S, the side of the task's square observation frame: 9, or the grid's larger side
    where that exceeds 9 (11 for the S11N5 tasks)."""
    return max(FRAME, *grid_size(env_id))


def check_pixels_fit(env_id: str) -> None:
    """Raise ValueError when `env_id`'s grid is larger than the pixel frame."""
    if grid_side(env_id) > FRAME:
        width, height = grid_size(env_id)
        raise ValueError(
            f"obs='pixels' draws grids up to {FRAME}×{FRAME}, and {env_id} is {width}×{height}: "
            "use obs='symbolic' (--obs symbolic) for it"
        )


LAVA_LOOKS: tuple[str, ...] = ("orange", "blue", "flat")
DEFAULT_LAVA_LOOK = "orange"
_LAVA_COLOURS = {"orange": (255, 128, 0), "blue": (0, 128, 255), "flat": (255, 128, 0)}


def check_lava_look(lava_look: str, obs: str) -> str:
    """`lava_look` when `obs` can show it; ValueError naming the choices otherwise."""
    if lava_look not in LAVA_LOOKS:
        raise ValueError(f"lava_look must be one of {list(LAVA_LOOKS)}, got {lava_look!r}")
    if lava_look != DEFAULT_LAVA_LOOK and obs != "pixels":
        raise ValueError(
            f"lava_look={lava_look!r} changes how lava is drawn, which only obs='pixels' shows: "
            "pass --obs pixels, or leave --lava-look out"
        )
    return lava_look


def lava_tile(lava_look: str, agent_dir: int | None, tile_size: int) -> np.ndarray:
    """A lava tile drawn as `lava_look` says, uint8 [tile_size, tile_size, 3]: MiniGrid's
    `Grid.render_tile` step by step (grid lines, the cell, the agent, 3× supersampling),
    with the cell's colour and waves chosen here (MiniGrid caches tiles by cell type, so a
    redrawn lava cannot go through it)."""
    subdivs = 3
    img = np.zeros((tile_size * subdivs, tile_size * subdivs, 3), np.uint8)
    fill_coords(img, point_in_rect(0, 0.031, 0, 1), (100, 100, 100))
    fill_coords(img, point_in_rect(0, 1, 0, 0.031), (100, 100, 100))
    fill_coords(img, point_in_rect(0, 1, 0, 1), _LAVA_COLOURS[lava_look])
    if lava_look != "flat":
        for i in range(3):  # Lava.render's waves
            lo, hi = 0.3 + 0.2 * i, 0.4 + 0.2 * i
            for x0, y0, x1, y1 in ((0.1, lo, 0.3, hi), (0.3, hi, 0.5, lo), (0.5, lo, 0.7, hi), (0.7, hi, 0.9, lo)):
                fill_coords(img, point_in_line(x0, y0, x1, y1, r=0.03), (0, 0, 0))
    if agent_dir is not None:
        triangle = point_in_triangle((0.12, 0.19), (0.87, 0.50), (0.12, 0.81))
        fill_coords(img, rotate_fn(triangle, cx=0.5, cy=0.5, theta=0.5 * np.pi * agent_dir), (255, 0, 0))
    return downsample(img, subdivs)


def check_obs_kind(obs: str) -> str:
    """`obs`; ValueError naming the accepted kinds when it is not one of them."""
    if obs not in OBS_KINDS:
        raise ValueError(f"obs must be one of {list(OBS_KINDS)}, got {obs!r}")
    return obs


def obs_shape(obs: str, side: int = FRAME) -> tuple[int, int, int]:
    """Observation shape (H, W, C) for an observation kind, on a frame of `side` cells
    (`grid_side(env_id)`; pixels only on the 9×9 frame)."""
    check_obs_kind(obs)
    return (PIXELS, PIXELS, 3) if obs == "pixels" else (side, side, 3)


def lava_ahead(env: gym.Env) -> bool:
    """Ground truth: the cell in front of the agent holds lava (unsafe state)."""
    base = env.unwrapped
    cell = base.grid.get(*base.front_pos)
    return cell is not None and cell.type == "lava"


def agent_cell(env: gym.Env) -> tuple[int, int]:
    """The agent's cell (x, y): column, row of the grid."""
    x, y = env.unwrapped.agent_pos
    return int(x), int(y)


def on_lava(env: gym.Env) -> bool:
    """The agent stands on lava (it just died there)."""
    base = env.unwrapped
    cell = base.grid.get(*base.agent_pos)
    return cell is not None and cell.type == "lava"


class SafetyInfo(gym.Wrapper):
    """Adds `cost`, `unsafe_state`, `unsafe_action` and `agent_pos` to every step's info."""

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        info.update(cost=0.0, unsafe_state=False, unsafe_action=False, agent_pos=agent_cell(self.env))
        return obs, info

    def step(self, action: int):
        unsafe_state = lava_ahead(self.env)
        unsafe_action = unsafe_state and int(action) == FORWARD
        agent_pos = agent_cell(self.env)
        obs, reward, terminated, truncated, info = self.env.step(action)
        cost = 1.0 if terminated and on_lava(self.env) else 0.0
        info.update(cost=cost, unsafe_state=unsafe_state, unsafe_action=unsafe_action, agent_pos=agent_pos)
        return obs, reward, terminated, truncated, info


class FixedLayout(gym.Wrapper):
    """Every episode uses the layout drawn with `layout_seed` (the paper's training runs)."""

    def __init__(self, env: gym.Env, layout_seed: int):
        super().__init__(env)
        self.layout_seed = int(layout_seed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=self.layout_seed, options=options)


def skip_agent_view(env: gym.Env) -> None:
    """Stop MiniGrid computing the agent's partial 7×7 view on every step and reset.

    That view is about 70% of a step's cost and the full-grid observations here never
    read it; MiniGrid's `gen_obs` is replaced by one that returns the other fields and a
    constant blank image of the view's shape.
    """
    base = env.unwrapped
    blank = np.zeros(base.observation_space["image"].shape, dtype=np.uint8)
    base.gen_obs = lambda: {"image": blank, "direction": base.agent_dir, "mission": base.mission}


class SymbolicObs(gym.ObservationWrapper):
    """Full grid encoding, uint8 (S, S, 3): the grid at [:width, :height], walls beyond."""

    def __init__(self, env: gym.Env, side: int):
        env = FullyObsWrapper(env)
        super().__init__(env)
        self.observation_space = gym.spaces.Box(0, 255, (side, side, 3), np.uint8)
        self._frame = np.empty((side, side, 3), np.uint8)
        self._frame[...] = _WALL

    def observation(self, observation: dict) -> np.ndarray:
        image = observation["image"]
        if image.shape == self._frame.shape:
            return image
        frame = self._frame.copy()
        frame[: image.shape[0], : image.shape[1]] = image
        return frame


_PADDING = Wall()  # the cell drawn beyond a grid smaller than the frame


class PixelObs(gym.ObservationWrapper):
    """Full top-down RGB view, uint8 (84, 84, 3), without MiniGrid's view-cone highlight.

    Tiles are rendered once at 28 px (by MiniGrid; lava of another look by `lava_tile`)
    and cached here; each step composes the 252×252 image from the cache and averages 3×3
    blocks, several times faster than MiniGrid's own full render.
    """

    def __init__(self, env: gym.Env, lava_look: str = DEFAULT_LAVA_LOOK):
        super().__init__(env)
        self.observation_space = gym.spaces.Box(0, 255, (PIXELS, PIXELS, 3), np.uint8)
        self.lava_look = check_lava_look(lava_look, "pixels")
        self._tiles: dict[tuple, np.ndarray] = {}

    def _tile(self, cell: Any, agent_dir: int | None) -> np.ndarray:
        key = (None if cell is None else cell.encode(), agent_dir)
        tile = self._tiles.get(key)
        if tile is None:
            if cell is not None and cell.type == "lava" and self.lava_look != DEFAULT_LAVA_LOOK:
                tile = lava_tile(self.lava_look, agent_dir, _TILE)
            else:
                tile = Grid.render_tile(cell, agent_dir=agent_dir, tile_size=_TILE)
            self._tiles[key] = tile
        return tile

    def observation(self, observation: Any) -> np.ndarray:
        base = self.env.unwrapped
        grid, (ax, ay) = base.grid, base.agent_pos
        full = np.empty((FRAME * _TILE, FRAME * _TILE, 3), np.uint8)
        for y in range(FRAME):
            for x in range(FRAME):
                inside = x < grid.width and y < grid.height
                agent_dir = base.agent_dir if (x, y) == (ax, ay) else None
                tile = self._tile(grid.get(x, y) if inside else _PADDING, agent_dir)
                full[y * _TILE : (y + 1) * _TILE, x * _TILE : (x + 1) * _TILE] = tile
        rows = full[0::3].astype(np.uint16) + full[1::3] + full[2::3]
        blocks = rows[:, 0::3] + rows[:, 1::3] + rows[:, 2::3]
        return (blocks // 9).astype(np.uint8)


def make_env(
    env_id: str = DEFAULT_ENV,
    obs: str = "symbolic",
    layout_seed: int | None = None,
    lava_look: str = DEFAULT_LAVA_LOOK,
) -> gym.Env:
    """Build one environment.

    Args:
        env_id: one of `ENV_IDS`.
        obs: "symbolic" (uint8 S×S×3 grid, S = `grid_side(env_id)`) or "pixels" (uint8
            84×84×3 RGB; grids up to 9×9).
        layout_seed: when given, every episode uses this layout; else a new random
            layout per episode (seeded by the caller's `reset(seed=...)`).
        lava_look: how lava is drawn (`LAVA_LOOKS`; pixels only).
    """
    check_env_id(env_id)
    check_obs_kind(obs)
    check_lava_look(lava_look, obs)
    if obs == "pixels":
        check_pixels_fit(env_id)
    env = gym.make(env_id)
    if layout_seed is not None:
        env = FixedLayout(env, layout_seed)
    env = SafetyInfo(env)
    skip_agent_view(env)
    return SymbolicObs(env, grid_side(env_id)) if obs == "symbolic" else PixelObs(env, lava_look)


_TURN_LEFT, _TURN_RIGHT = int(Actions.left), int(Actions.right)
_STEP = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid directions: right, down, left, up


def shortest_path_action(env: gym.Env) -> int:
    """The first move of a shortest safe route to the goal (left, right or forward; lava
    and walls avoided), by breadth-first search over (cell, direction): the policy a
    trained agent converges to. Forward when no route exists."""
    base = env.unwrapped
    start = (*map(int, base.agent_pos), int(base.agent_dir))

    def free(x: int, y: int) -> bool:
        cell = base.grid.get(x, y)
        return cell is None or cell.type in ("goal", "floor")

    def moves(state):
        x, y, d = state
        yield _TURN_LEFT, (x, y, (d - 1) % 4)
        yield _TURN_RIGHT, (x, y, (d + 1) % 4)
        nx, ny = x + _STEP[d][0], y + _STEP[d][1]
        if 0 <= nx < base.width and 0 <= ny < base.height and free(nx, ny):
            yield FORWARD, (nx, ny, d)

    first = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for state in frontier:
            cell = base.grid.get(state[0], state[1])
            if cell is not None and cell.type == "goal":
                return first[state] if first[state] is not None else FORWARD
            for action, nxt in moves(state):
                if nxt not in first:
                    first[nxt] = action if first[state] is None else first[state]
                    following.append(nxt)
        frontier = following
    return FORWARD

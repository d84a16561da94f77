"""What every plot of a study shares: sizes, markers and colours, the settings' short names,
the violations' log axis, the title, and the figure's layout and file.

Every plot names a setting by what tells it apart from the study's other settings
(`short_labels`), puts violations on a symmetric-log axis when they span more than 10×
(`log_axis`), and carries its title inside the figure. Figures are built on
`matplotlib.figure.Figure` (no pyplot state); the `*_figure` builders (`pareto_plot`,
`curves_plot`, `comparison_plot`, `attainment`, `sensitivity`) return them, drawn, so that
tests can inspect what a reader sees.
"""

from __future__ import annotations

import collections
import functools
import itertools
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator

from shield.settings import STATE_CHECK_MODES

DPI = 110
TITLE_SIZE, LABEL_SIZE, TEXT_SIZE = 12, 11, 10  # points
BASELINE_MARKERS = {"dqn": ("s", "tab:gray"), "priors": ("D", "tab:brown"), "state_only": ("^", "tab:purple")}
SHIELD_MARKER = ("o", "tab:blue")
MEAN_SIZE, SEED_SIZE, CLOUD_SIZE = 8, 4, 3  # marker sizes, points (CLOUD: a mean not named)
LOG_SPAN = 10.0  # violations spanning more than this factor get a log axis
# one colour per setting in the curves: baselines keep their Pareto-plot colours
SHIELD_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:olive", "tab:cyan", "tab:pink")
PRIORS_COLOURS = ("tab:brown", "peru", "rosybrown")
NAMED_MOST = 20  # settings a plot names (labels, curves); a larger study names its front's


def short_labels(settings: list[str]) -> dict[str, str]:
    """{setting label: what tells it apart}. A label of a mode with the state check ("shield",
    "state_only") drops each setting whose value is the same in every such label that names
    it, unless dropping it would make two labels alike ("shield" alone when there is one
    shield setting); the other baselines drop ``tau=0``."""
    return dict(cached_short_labels(tuple(settings)))


@functools.lru_cache(maxsize=1)  # a report's plots name the same settings (10^5 in a search)
def cached_short_labels(settings: tuple[str, ...]) -> dict[str, str]:
    """`short_labels`, computed once per list of settings."""
    shield = list(dict.fromkeys(label for label in settings if label.split(maxsplit=1)[0] in STATE_CHECK_MODES))
    # every token ("d_max=2.5") but the mode, with how many labels hold it, in order of first appearance
    counts = collections.Counter(itertools.chain.from_iterable(label.split()[1:] for label in shield))
    values: dict[str, list[str]] = {}  # per setting name, its tokens
    named_by: collections.Counter[str] = collections.Counter()  # per setting name, the labels naming it
    for token, count in counts.items():
        name = token.split("=")[0]
        values.setdefault(name, []).append(token)
        named_by[name] += count
    dropped: set[str] = set()
    # the most specific settings (last in a label) go first, so that `d_max_rule=adaptive`
    # outlives the parameters it implies
    for name in reversed(values):
        if len(values[name]) != 1:
            continue
        if named_by[name] == len(shield):  # the same token leaves every label: they stay apart
            dropped.add(name)
            continue
        gone = dropped | {name}
        short = {tuple(t for t in label.split() if t.split("=")[0] not in gone) for label in shield}
        if len(short) == len(shield):
            dropped.add(name)
    shield_gone = [values[name][0] for name in dropped]  # one token each
    out = {}
    for label in settings:
        gone = shield_gone if label.split(maxsplit=1)[0] in STATE_CHECK_MODES else ["tau=0"]
        text = f" {' '.join(label.split())} "
        for token in gone:  # whole tokens only: " k=1 " is not in " k=10 "
            text = text.replace(f" {token} ", " ")
        out[label] = text.strip()
    rounded = {label: _rounded(text) for label, text in out.items()}
    # a search's floats in 6 significant digits, unless that makes two names alike
    return rounded if len(set(rounded.values())) == len(set(out.values())) else out


_NUMBER = re.compile(r"=(-?\d+\.\d{6,}(?:e-?\d+)?)\b")


def _rounded(text: str) -> str:
    """`text` with every long decimal value ("d_max=3.926954532740744") in 6 significant digits."""
    return _NUMBER.sub(lambda m: f"={float(m.group(1)):.6g}", text)


def labels_of(*tables: pd.DataFrame) -> list[str]:
    """The settings of `tables`, sorted, once each (their labels as plain strings: iterating
    pandas' arrow strings goes one Python object at a time)."""
    return sorted(set().union(*(table["setting"].dropna().unique().tolist() for table in tables)))


def log_axis(violations: Sequence[float] | np.ndarray) -> bool:
    """True when the finite `violations` (counts) span more than `LOG_SPAN`×: the largest over
    the smallest, a count below 1 taken as 1 (the axis is linear below 1, so 0 still shows)."""
    values = np.asarray(violations, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return False
    return float(values.max()) / max(float(values.min()), 1.0) > LOG_SPAN


def set_violations_scale(ax, which: str, violations: np.ndarray) -> bool:
    """Put the `which` ("x" or "y") axis of `ax` on a symmetric-log scale (linear in [0, 1],
    ticks at 1, 2, 5 × powers of 10, plain numbers) when `log_axis(violations)`; return that."""
    if not log_axis(violations):
        return False
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("symlog", linthresh=1.0, linscale=0.4)
    axis.set_major_locator(SymmetricalLogLocator(linthresh=1.0, base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    return True


def violations_limits(violations: np.ndarray, log: bool) -> tuple[float, float]:
    """Axis limits that hold every value with a margin: a little below 0 (so that a marker
    at 0 shows whole) or, on a log axis whose smallest count is 2 or more, a third below it;
    8% above the largest (half of it on a log axis)."""
    values = violations[np.isfinite(violations)]
    high = float(values.max()) if len(values) else 1.0
    low = float(values.min()) if len(values) else 0.0
    if not log:
        return -0.02 * high - 0.5, high * 1.08 + 1.0
    return (-0.4 if low < 2 else low / 1.5), high * 1.5


def add_title(fig: Figure, title: str, subtitle: str) -> None:
    """`title` (the study) over `subtitle` (what the plot shows), each wrapped to the figure's
    width (an inch holds about 11 characters at 12 points)."""
    width = int(fig.get_figwidth() * 11)
    fig.suptitle(textwrap.fill(title, width) + "\n" + textwrap.fill(subtitle, width), fontsize=TITLE_SIZE)


def run_summary(trials: pd.DataFrame) -> str:
    """ "agent nstep3, 2 seeds, about 100K env steps per trial" from the finished trials."""
    done = trials[trials["status"] == "TERMINATED"]
    if done.empty:
        return "no finished trial"
    agents = ", ".join(sorted(set(done["agent"].dropna().astype(str).unique().tolist()))) or "?"
    steps = float(np.nanmedian(done["env_steps"].to_numpy(dtype=float)))
    kilo = f"{steps / 1000:.0f}K" if steps >= 10_000 else f"{steps:,.0f}"
    return f"agent {agents}, {done['seed'].nunique()} seeds, about {kilo} env steps per trial"


def draw(fig: Figure) -> None:
    """Lay the figure out once and freeze that layout, so that the positions measured for
    labels afterwards stay where they were measured. Nothing is rendered: `save` renders."""
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI)


def finished_seeds(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished trials' (setting, mode, violations_total, return_final), defined values only."""
    done = trials[trials["status"] == "TERMINATED"]
    return done.dropna(subset=["violations_total", "return_final"])[
        ["setting", "mode", "violations_total", "return_final"]
    ]


def setting_styles(settings: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) per setting: `dqn` grey, `state_only` purple and `priors` browns,
    solid, as in the Pareto plot; the shield settings from a qualitative palette, in the order given, their
    line styles cycling too, so that curves that coincide (settings that behaved alike) both show."""
    styles: dict[str, tuple[str, str]] = {}
    shield, priors = itertools.cycle(SHIELD_COLOURS), itertools.cycle(PRIORS_COLOURS)
    dashes = itertools.cycle(("-", "--", "-.", ":"))
    for setting in settings:
        mode = setting.split()[0]
        if mode == "shield":
            styles[setting] = (next(shield), next(dashes))
        elif mode in BASELINE_MARKERS and mode != "priors":
            styles[setting] = (BASELINE_MARKERS[mode][1], "-")
        else:
            styles[setting] = (next(priors), "-")
    return styles

"""Sensitivity views: how a study's outcomes move with the shield parameters it sweeps.

`sensitivity_table` (sensitivity.csv) gives, per setting and metric, the mean over seeds
with the same t interval as pareto.csv (`sweeps.intervals`); `sensitivity_figure`
(sensitivity.png) draws it against the first swept parameter, one panel per metric, a
second swept parameter as separate lines and the baselines as horizontal bands. Columns
and plot documented in results/README.md.

A study of one shield setting sweeps nothing: its table has the shield rows with no
parameter columns, and its plot is still written, the shield at one x position and the
subtitle saying that no shield parameter was swept.
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from shield.settings import D_MAX_RULES, ShieldParams
from sweeps import plot_style
from sweeps.intervals import INTERVALS_SAID, printed_intervals
from sweeps.results import LEARNED_RETURN, SETTING_COLUMNS

PARAMETERS = tuple(name for name in SETTING_COLUMNS if name != "mode")
METRICS = ("return_final", "violations_total")  # every study's
STATE_METRICS = ("state_flag_rate", "state_precision")  # where the state check's threshold moves
MEANINGS = {
    "return_final": "mean return of the last 100 episodes",
    "violations_total": "lava deaths in training",
    "state_flag_rate": "share of steps the state check flagged",
    "state_precision": "share of flagged steps with lava ahead",
}
PARAMETER_MEANINGS = {
    "d_max": "the state check's threshold, latent units",
    "margin": "contrastive margin α, squared latent units",
    "rho": "probability that a flagged state is acted on",
    "buffer_size": "unsafe embeddings kept",
    "buffer_rule": "what the unsafe buffer keeps",
    "k": "nearest unsafe embeddings averaged into D",
    "tau": "action threshold on Q_p",
    "d_max_rule": "how the threshold is set",
    "adaptive_recall": "share of pre-death states the threshold must flag",
    "adaptive_flag_rate": "most of the checked states the threshold may flag",
}
MODE_ORDER = {"dqn": 0, "priors": 1, "state_only": 2, "shield": 3}
# sensitivity.csv: these, with the swept parameters' columns after `mode`
SENSITIVITY_COLUMNS = ("agent", "setting", "mode", "metric", "mean", "std", "ci_low", "ci_high", "ci_note", "n_seeds")
LINES_MOST = len(plot_style.SHIELD_COLOURS)  # a second parameter of more values is not split into lines
TICKS_MOST = 12  # more values than this get the axis's own ticks
RIGHT_ROOM = 0.4  # of the x span, right of the last value: the baselines' labels go there
LINE_MARKERS = ("o", "^", "v", "P", "X", "h", "*", "p")
DASHES = ("-", "--", "-.", ":")


def finished(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished their budget."""
    return trials[trials["status"] == "TERMINATED"]


def shield_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished trials of the shield."""
    done = finished(trials)
    return done[done["mode"] == "shield"]


def swept_parameters(trials: pd.DataFrame) -> list[str]:
    """The shield settings (`SETTING_COLUMNS` but mode) that take more than one value among
    the finished shield trials, in `SETTING_COLUMNS` order: ["d_max"] in a threshold study,
    ["buffer_size", "k"] in the buffer_size study."""
    shield = shield_trials(trials)
    return [name for name in PARAMETERS if typed(shield[name]).nunique(dropna=False) > 1]


def sensitivity_metrics(trials: pd.DataFrame, parameters: list[str]) -> list[str]:
    """return_final and violations_total; with state_flag_rate and state_precision when the
    state check's threshold moves: d_max swept, or a relative or adaptive d_max_rule."""
    rules = set(shield_trials(trials)["d_max_rule"].dropna().astype(str).unique().tolist())
    moves = "d_max" in parameters or bool(rules & {"relative", "adaptive", "capped"})
    return [*METRICS, *(STATE_METRICS if moves else ())]


def typed(values: pd.Series) -> pd.Series:
    """A setting's column as numbers (integers for the integer settings) when every value
    given is one; else as strings. Empty stays empty."""
    as_numbers = pd.to_numeric(values, errors="coerce")
    if as_numbers.notna().sum() != values.notna().sum():
        return values.where(values.isna(), values.astype(str))
    if ShieldParams.types().get(values.name) is int:
        return as_numbers.astype("Int64")
    return as_numbers.astype(float)


def table_columns(parameters: list[str]) -> list[str]:
    """sensitivity.csv's columns: `SENSITIVITY_COLUMNS`, the swept `parameters` after mode."""
    at = SENSITIVITY_COLUMNS.index("mode") + 1
    return [*SENSITIVITY_COLUMNS[:at], *parameters, *SENSITIVITY_COLUMNS[at:]]


def sensitivity_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, metric) over the finished trials (`table_columns`): the setting's
    swept parameters (`swept_parameters`; empty for dqn and priors), the mean, sample std
    and, from as many seeds as `sweeps.intervals` asks, the t interval of the mean (`ci_note` says
    which, as in pareto.csv) of the metric's defined values, and how many there are
    (`n_seeds`). Metrics: `sensitivity_metrics`. Rows by metric, then dqn, priors, shield,
    then the parameters' values."""
    parameters = swept_parameters(trials)
    metrics = sensitivity_metrics(trials, parameters)
    columns = table_columns(parameters)
    done = finished(trials).dropna(subset=["agent", "setting"])
    if done.empty:
        return pd.DataFrame(columns=columns)
    values = done[["agent", "setting", "mode"]].assign(
        **{name: typed(done[name]) for name in parameters},
        **{name: pd.to_numeric(done[name], errors="coerce").astype(float) for name in metrics},
    )
    grouped = values.groupby(["agent", "setting"], sort=True)
    settings = grouped[["mode", *parameters]].first().reset_index()
    settings.loc[settings["mode"] != "shield", parameters] = pd.NA  # baselines are not swept
    keys = settings.assign(
        _mode=settings["mode"].map(MODE_ORDER), **{f"_{p}": sort_key(settings[p]) for p in parameters}
    )
    order = keys.sort_values(["_mode", *(f"_{p}" for p in parameters), "setting"], kind="stable").index.to_numpy()
    settings = settings.iloc[order].reset_index(drop=True)
    parts = []
    for metric in metrics:
        stats = grouped[metric].agg(["mean", "std", "count"]).iloc[order]  # the settings' order
        mean, std, count = (stats[name].to_numpy() for name in ("mean", "std", "count"))
        learned = None
        if metric == "return_final":
            learned = (values["return_final"] >= LEARNED_RETURN).groupby([values["agent"], values["setting"]]).sum()
            learned = learned.iloc[order].to_numpy()
        low, high, notes = printed_intervals(metric, mean, std, count, learned)
        parts.append(
            settings.assign(
                metric=metric, mean=mean, std=std, ci_low=low, ci_high=high, ci_note=notes, n_seeds=count.astype(int)
            )
        )
    return pd.concat(parts, ignore_index=True)[columns]


def sort_key(values: pd.Series) -> pd.Series:
    """Numbers as they are; d_max_rule in its declared order; other strings alphabetically."""
    if values.name == "d_max_rule":
        return values.map({rule: i for i, rule in enumerate(D_MAX_RULES)})
    return values


# --- the plot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line of a panel: the shield settings with one `value` of the line parameter
    (None: the one line of a study without one)."""

    value: Any
    colour: str
    marker: str
    dashes: str


def line_parameter(seeds: pd.DataFrame, parameters: list[str]) -> tuple[str | None, list]:
    """(the parameter drawn as separate lines, its values in order): the second swept
    parameter when it takes at most `LINES_MOST` values; else (None, [None]), one line."""
    if len(parameters) < 2 or seeds[parameters[1]].nunique() > LINES_MOST:
        return None, [None]
    return parameters[1], categories_of(seeds[parameters[1]])


def categories_of(values: pd.Series) -> list:
    """The distinct values of a setting, in `sort_key` order."""
    distinct = pd.Series(values.dropna().unique(), name=values.name)
    return distinct.iloc[np.argsort(sort_key(distinct).to_numpy(), kind="stable")].tolist()


def positions(frame: pd.DataFrame, x_name: str | None, categories: list | None) -> np.ndarray:
    """[n] each row's x: its value of `x_name`, or its index among `categories` (0: nothing swept)."""
    if x_name is None:
        return np.zeros(len(frame))
    values = frame[x_name]
    if categories is not None:
        values = values.map({c: float(i) for i, c in enumerate(categories)})
    return values.to_numpy(dtype=float, na_value=np.nan)


def x_scale(ax, xs: np.ndarray) -> bool:
    """Put `ax`'s x axis on a log scale when its positive values span more than
    `plot_style.LOG_SPAN`× (symlog, linear up to the smallest positive value, when 0 or less is
    among them); return whether it did."""
    positive = xs[xs > 0]
    if not len(positive) or positive.max() / positive.min() <= plot_style.LOG_SPAN:
        return False
    if (xs <= 0).any():
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    else:
        ax.set_xscale("log")
    return True


def x_axis(ax, xs: np.ndarray, categories: list | None) -> bool:
    """Scale, limits and ticks of a panel's x axis, the values (or categories) as ticks, with
    `RIGHT_ROOM` at the right for the baselines' names; return whether it is logarithmic."""
    xs = np.unique(xs[np.isfinite(xs)])
    log = categories is None and x_scale(ax, xs)
    forward = ax.xaxis.get_transform()
    low, high = forward.transform(np.array([xs.min(), xs.max()]) if len(xs) else np.array([0.0, 1.0]))
    span = high - low if high > low else 1.0
    ax.set_xlim(*forward.inverted().transform(np.array([low - 0.08 * span, high + RIGHT_ROOM * span])))
    if categories is not None:
        ax.xaxis.set_major_locator(FixedLocator(np.arange(len(categories))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: value_text(categories[int(round(v))])))
    elif len(xs) <= TICKS_MOST:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        return log
    ax.xaxis.set_minor_locator(NullLocator())
    return log


def stagger_ticks(ax) -> None:
    """Move each x tick label that would touch the one at its left (2.5 beside 3.5 on a log
    axis, say) to a second row, and leave it out only where that row is taken too, so that
    every swept value keeps its label where two rows fit them. Runs on a laid-out figure whose
    layout is not frozen yet, so that the figure makes room for the second row."""
    renderer = ax.figure.canvas.get_renderer()
    ticks = sorted((t for t in ax.xaxis.get_major_ticks() if t.label1.get_text()), key=lambda t: t.get_loc())
    rows: list[list] = [[], []]  # per row, the label boxes placed there, left to right
    hidden = set()
    for tick in ticks:
        box = tick.label1.get_window_extent(renderer)
        row = next((r for r, placed in enumerate(rows) if not placed or box.x0 >= placed[-1].x1 + 4), None)
        if row is None:
            hidden.add(tick.get_loc())
            continue
        rows[row].append(box)
        if row:  # the same Tick objects on every draw (the axis has fixed ticks): the pad stays
            tick.set_pad(tick.get_pad() + box.height * 72 / ax.figure.dpi)  # one label's height, in points
    if hidden:
        shown = ax.xaxis.get_major_formatter()
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, i: "" if v in hidden else shown(v, i)))


def value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, numbers.Real) else str(value)


def baseline_band(row: pd.Series, seeds: np.ndarray) -> tuple[float, float]:
    """A baseline's band: its mean's interval when printed, else its seeds' range."""
    if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
        return float(row["ci_low"]), float(row["ci_high"])
    seeds = seeds[np.isfinite(seeds)]
    return (float(seeds.min()), float(seeds.max())) if len(seeds) else (np.nan, np.nan)


Label = tuple[float, str, str]  # y (data), text, colour


def draw_panel(
    ax,
    metric: str,
    table: pd.DataFrame,
    done: pd.DataFrame,
    series: list[Series],
    line_name: str | None,
    joined: bool,
    names: dict[str, str],
) -> list[Label]:
    """One metric: the shield settings' means, bars and seeds per series, the baselines'
    bands. table and done carry `_x` (each row's x); returns the baselines' names to place
    at the right edge once the figure is laid out."""
    rows = table[table["metric"] == metric]
    shield, seeds = rows[rows["mode"] == "shield"], done[done["mode"] == "shield"]
    shown = [rows[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel()]
    for line in series:
        if line_name is None:
            means, values = shield, seeds
        else:
            means = shield[(shield[line_name] == line.value).fillna(False).to_numpy(dtype=bool)]
            values = seeds[(seeds[line_name] == line.value).fillna(False).to_numpy(dtype=bool)]
        y = values[metric].to_numpy(dtype=float)
        shown.append(y)
        several = values["setting"].map(values["setting"].value_counts()).to_numpy() > 1
        # a setting's only seed is its mean: drawn once, as the mean (a search's 10^5, say)
        ax.plot(
            values["_x"][several],
            y[several],
            "o",
            color=line.colour,
            ms=plot_style.SEED_SIZE,
            alpha=0.35,
            ls="",
            zorder=3,
            in_layout=False,  # inside the axes: measuring 10^5 of them would not move it
        )
        means = means[np.isfinite(means["mean"].to_numpy(dtype=float))].sort_values("_x")
        ax.plot(
            means["_x"],
            means["mean"],
            marker=line.marker,
            color=line.colour,
            ls=line.dashes if joined else "",
            lw=1.6,
            ms=plot_style.MEAN_SIZE - 1 if len(means) <= plot_style.NAMED_MOST else plot_style.CLOUD_SIZE,
            zorder=4,
            in_layout=False,
        )
        bars = means[np.isfinite(means["ci_low"].to_numpy(dtype=float))]
        ax.errorbar(
            bars["_x"],
            bars["mean"],
            yerr=[bars["mean"] - bars["ci_low"], bars["ci_high"] - bars["mean"]],
            fmt="none",
            ecolor=line.colour,
            elinewidth=1.3,
            capsize=4,
            zorder=4,
        )
    labels: list[Label] = []
    baselines = rows[(rows["mode"] != "shield") & np.isfinite(rows["mean"].to_numpy(dtype=float))]
    colours = plot_style.setting_styles(baselines["setting"].tolist())
    for _, row in baselines.iterrows():
        colour = colours[row["setting"]][0]
        low, high = baseline_band(row, done.loc[done["setting"] == row["setting"], metric].to_numpy(dtype=float))
        shown.append(np.array([low, high]))
        ax.axhline(row["mean"], color=colour, lw=1.4, ls="--", zorder=2)
        if high > low:
            ax.axhspan(low, high, color=colour, alpha=0.15, lw=0, zorder=1)
        labels.append((float(row["mean"]), names[row["setting"]], "0.25" if colour == "tab:gray" else colour))
    log = False
    if metric == "violations_total":
        values = np.concatenate(shown)
        values = values[np.isfinite(values)]
        log = plot_style.set_violations_scale(ax, "y", values)
        ax.set_ylim(*plot_style.violations_limits(values, log))
    ax.set_title(f"{metric}: {MEANINGS[metric]}", fontsize=plot_style.LABEL_SIZE)
    ax.set_ylabel(metric + (" (log scale)" if log else ""), fontsize=plot_style.LABEL_SIZE)
    ax.tick_params(labelsize=plot_style.TEXT_SIZE)
    ax.grid(alpha=0.3)
    return labels


def place_baseline_labels(ax, labels: list[Label]) -> None:
    """Each baseline's name at the right edge of `ax`, just inside, beside its line; names of
    lines that lie close are spread apart so that none covers another."""
    if not labels:
        return
    px = plot_style.DPI / 72
    height = (plot_style.TEXT_SIZE + 5) * px
    box = ax.get_window_extent()
    bottom, top = box.y0 + height / 2, box.y1 - height / 2
    at = np.array([ax.transData.transform((ax.get_xlim()[1], y))[1] for y, *_ in labels])
    order = np.argsort(at, kind="stable")
    placed = np.clip(at[order], bottom, top)
    for i in range(1, len(placed)):  # each clear of the one below, then back under the top
        placed[i] = max(placed[i], placed[i - 1] + height)
    placed[-1] = min(placed[-1], top)
    for i in range(len(placed) - 2, -1, -1):
        placed[i] = min(placed[i], placed[i + 1] - height)
    for i, y_px in zip(order, placed, strict=True):
        y, text, colour = labels[i]
        ax.annotate(
            text,
            (1.0, y),
            xycoords=ax.get_yaxis_transform(),
            xytext=(-4, (y_px - at[i]) / px),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=plot_style.TEXT_SIZE,
            color=colour,
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85),
            zorder=6,
        )


def x_label(seeds: pd.DataFrame, x_name: str | None, log: bool) -> str:
    """The x axis's title: the parameter and what it is, in its units."""
    if x_name is None:
        return "no shield parameter swept"
    meaning = PARAMETER_MEANINGS[x_name]
    rules = set(seeds["d_max_rule"].dropna().astype(str))
    if x_name == "d_max" and rules == {"relative"}:
        meaning = "the state check's threshold, × √margin"
    elif x_name == "d_max" and "adaptive" in rules:
        meaning = "the state check's threshold (adaptive: its start), latent units"
    return f"{x_name}: {meaning}" + (" (log scale)" if log else "")


def subtitle(trials: pd.DataFrame, parameters: list[str], line_name: str | None) -> str:
    """What the plot shows: the run, what is swept (or that nothing is), what the marks are."""
    if shield_trials(trials).empty:
        swept = "no shield parameter was swept: no shield trial finished, the baselines alone"
    elif not parameters:
        swept = "no shield parameter was swept: the study's one shield setting beside the baselines"
    else:
        swept = f"sensitivity to {parameters[0]}" + (f", one line per {line_name}" if line_name else "")
        others = [p for p in parameters[1:] if p != line_name]
        if others:
            swept += f"; {', '.join(others)} also vary, so means are not joined"
    return (
        f"{plot_style.run_summary(trials)}; {swept}. Markers: mean over seeds; bars: its 95% t-interval "
        f"(where enough seeds back it: {INTERVALS_SAID}); dots: single seeds"
    )


def legend_handles(series: list[Series], line_name: str | None, baselines: bool) -> list:
    """One entry per series (the line parameter's values), then the seeds, the bars and the bands."""
    handles = [
        Line2D(
            [],
            [],
            marker=line.marker,
            color=line.colour,
            ls=line.dashes,
            ms=plot_style.MEAN_SIZE - 1,
            label=f"shield {line_name}={value_text(line.value)}" if line_name else "shield: mean",
        )
        for line in series
    ]
    handles.append(
        Line2D([], [], marker="o", color="0.3", alpha=0.35, ls="", ms=plot_style.SEED_SIZE, label="one seed")
    )
    handles.append(Line2D([], [], marker="|", color="0.3", ls="-", label="95% t-interval of the mean"))
    if baselines:
        handles.append(
            Patch(
                facecolor="0.6",
                edgecolor="0.3",
                ls="--",
                label="dqn, priors: mean (dashed), 95% interval (band; the seeds' range where none is printed)",
            )
        )
    return handles


def sensitivity_figure(trials: pd.DataFrame, title: str, table: pd.DataFrame | None = None) -> Figure:
    """The metrics of `sensitivity_table` against the first swept parameter, one panel each
    (side by side, or 2 × 2 for four): per shield setting the mean with its 95% t-interval
    bars (where `sweeps.intervals` prints one) and every seed as a translucent dot at the
    same x; the means joined in x order unless a third parameter varies; a second swept
    parameter of at most `LINES_MOST` values as separate lines; dqn and priors as horizontal
    bands (dashed line: mean; band: its interval, or its seeds' range below
    enough seeds), named at the right edge. The x axis is logarithmic when its
    positive values span more than 10×; violations too, by `plot_style.log_axis`'s rule.

    trials: trials.csv rows; table: their `sensitivity_table`, when already computed.
    """
    table = sensitivity_table(trials) if table is None else table
    parameters = swept_parameters(trials)
    done = finished(trials)
    done = done.assign(**{name: typed(done[name]) for name in parameters})
    seeds = done[done["mode"] == "shield"]
    x_name = parameters[0] if parameters else None
    line_name, line_values = line_parameter(seeds, parameters)
    joined = len(parameters) - (line_name is not None) <= 1  # a line's settings differ in x only
    names = plot_style.short_labels(plot_style.labels_of(trials))  # as pareto.png names them
    categories = None
    if x_name is None:
        categories = sorted({names[s] for s in seeds["setting"].dropna()})
    elif not pd.api.types.is_numeric_dtype(seeds[x_name]):
        categories = categories_of(seeds[x_name])
    table = table.assign(_x=positions(table, x_name, categories))
    done = done.assign(_x=positions(done, x_name, categories))
    styles = zip(itertools.cycle(plot_style.SHIELD_COLOURS), itertools.cycle(LINE_MARKERS), itertools.cycle(DASHES))
    series = [Series(value, *style) for value, style in zip(line_values, styles, strict=False)]
    metrics = list(dict.fromkeys(table["metric"])) or list(METRICS)
    columns = 2 if len(metrics) > 1 else 1
    panel_rows = -(-len(metrics) // columns)
    fig = Figure(figsize=(6.2 * columns, 4.4 * panel_rows + 1.8), dpi=plot_style.DPI, layout="constrained")
    axes = fig.subplots(panel_rows, columns, squeeze=False).ravel()
    labels = []
    for ax, metric in zip(axes, metrics, strict=False):
        labels.append(draw_panel(ax, metric, table, done, series, line_name, joined, names))
        log = x_axis(ax, positions(seeds, x_name, categories), categories)
        ax.set_xlabel(x_label(seeds, x_name, log), fontsize=plot_style.LABEL_SIZE)
    baselines = bool((table["mode"] != "shield").any())
    handles = legend_handles(series, line_name, baselines)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=plot_style.TEXT_SIZE)
    plot_style.add_title(fig, title, subtitle(trials, parameters, line_name))
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # a first layout, to measure the tick labels on
    for ax in axes:
        stagger_ticks(ax)
    plot_style.draw(fig)  # laid out again with the second rows, and frozen
    for ax, panel_labels in zip(axes, labels, strict=False):
        place_baseline_labels(ax, panel_labels)
    return fig


def plot_sensitivity(trials: pd.DataFrame, path: Path, title: str, table: pd.DataFrame | None = None) -> None:
    """Write `sensitivity_figure` to `path`."""
    plot_style.save(sensitivity_figure(trials, title, table), path)


SENSITIVITY_MOST = 500  # settings; above, a table per setting and metric is a search's, not a sweep's


def write_sensitivity(folder: Path, trials: pd.DataFrame, title: str) -> dict[str, Path]:
    """Write sensitivity.csv and sensitivity.png into `folder` when some trial finished and
    the study has at most `SENSITIVITY_MOST` settings; return their paths (none otherwise).

    A search's first phase (thousands of settings, one seed each) is not a sweep of one
    parameter: Optuna's slice and importance plots show it (`sweeps.search_storage`).
    """
    done = finished(trials)
    if done.empty or done["setting"].nunique() > SENSITIVITY_MOST:
        return {}
    paths = {name: Path(folder) / name for name in ("sensitivity.csv", "sensitivity.png")}
    table = sensitivity_table(trials)
    table.to_csv(paths["sensitivity.csv"], index=False)
    plot_sensitivity(trials, paths["sensitivity.png"], title, table)
    return paths

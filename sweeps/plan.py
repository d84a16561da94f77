"""A study, declared and resolved: its arguments, their validation and its run id (no Ray).

A study script declares a `Study` (its name and the grid of shield settings it varies);
`make_plan` turns the command line into a `Plan`, refusing bad input with a ValueError
that names the flag, before anything starts. Every study also runs its baselines (by
default `dqn` and `priors`), repeats every setting over seeds and writes into
``<storage>/<study>/<run-id>/``. `sweeps.runner` runs a plan.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rllib_algos.pretrain_budgets import (
    DEFAULT_ENCODER,
    PRETRAIN_BUDGETS,
    PRIOR_ROUTES,
    EncoderSetting,
    check_prior_route,
    default_prior_route,
    encoder_spec,
    prior_spec,
)
from shield.agents import AGENT_PRESETS, DEFAULT_AGENT, agent_preset
from shield.contrastive import LATENT_LOSSES
from shield.envs import (
    DEFAULT_ENV,
    DEFAULT_LAVA_LOOK,
    FRAME,
    LAVA_LOOKS,
    OBS_KINDS,
    check_env_id,
    check_lava_look,
    check_obs_kind,
    check_pixels_fit,
    grid_side,
    grid_size,
)
from shield.settings import (
    BUFFER_RULES,
    D_MAX_RULES,
    DEFAULT_SHIELD,
    MODES,
    PAPER_SHIELD,
    STATE_CHECK_MODES,
    ShieldParams,
)
from sweeps.budgets import STUDY_BUDGETS, StudyBudget, seeds_for
from sweeps.verdicts import VERDICT_MIN_SEEDS

BASELINES = (ShieldParams(mode="dqn"), ShieldParams(mode="priors", rho=PAPER_SHIELD.rho))
# The shield's rules, settable in every study (`study_grid`).
RULE_CHOICES = {"buffer_rule": BUFFER_RULES, "d_max_rule": D_MAX_RULES}
DEFAULT_STORAGE = "results"


@dataclass(frozen=True)
class Study:
    """A study: its name, what it is for, and the default grid of shield settings it varies.

    defaults: command-line defaults, e.g. {"budget": "paper"}; baselines: settings run
    beside the grid over the same seeds (``mode`` "dqn" or "priors", or a fixed shield);
    add_arguments: extra flags of this study;
    run: how the plan is run (default: `sweeps.runner.run_grid`), returning an exit code;
    after_run: called with the run folder once its report is written.
    """

    name: str
    description: str
    grid: dict[str, Sequence[Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    baselines: tuple[ShieldParams, ...] = BASELINES
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    run: Callable[[Plan], int] | None = None
    after_run: Callable[[Path], None] | None = None


def study_grid(study: Study) -> dict[str, Sequence[Any]]:
    """The study's grid, with the shield's rules (`RULE_CHOICES`) at their defaults where it
    does not vary them: every study takes ``--buffer-rule`` and ``--d-max-rule``, so the
    paper's rules (``ring``, ``fixed``) can stand beside the defaults in any of them."""
    return {key: [getattr(DEFAULT_SHIELD, key)] for key in RULE_CHOICES} | dict(study.grid)


def flag(name: str) -> str:
    """The command-line flag of a setting: d_max → --d-max."""
    return "--" + name.replace("_", "-")


def shield_settings(grid: dict[str, Sequence[Any]]) -> list[ShieldParams]:
    """Every combination of the grid's values ({setting name: values}), the other settings at
    the tool's defaults; combinations that compute the same thing (a fixed ``d_max_rule``
    with two ``adaptive_recall`` values, say: `ShieldParams.acting`) given once.

    ValueError, naming the flag, for a value `ShieldParams` refuses.
    """
    keys = list(grid)
    settings: list[ShieldParams] = []
    for values in itertools.product(*grid.values()):
        setting = checked(dict(zip(keys, values, strict=True)), keys).acting()
        if setting not in settings:
            settings.append(setting)
    return settings


def checked(values: dict[str, Any], flags: Sequence[str]) -> ShieldParams:
    """``ShieldParams(mode="shield", **values)``; its ValueError names the flag of the value
    it refuses when that is one of `flags`."""
    try:
        return ShieldParams(**({"mode": "shield"} | values))
    except ValueError as err:
        name = str(err).split()[0]
        hint = f" (from {flag(name)})" if name in flags else ""
        raise ValueError(f"{err}{hint}") from err


class RenamedFlag(argparse.Action):
    """An old flag name: sets the new flag's value and says, on stderr, which flag to use."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"note: {option_string} is now {self.new}; {option_string} will go in a later release", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_flag(parser: argparse.ArgumentParser, old: str, new: str, **kwargs: Any) -> None:
    """Accept `old` as `new` (hidden from --help), with a note naming `new`."""
    dest = new.removeprefix("--").replace("-", "_")
    parser.add_argument(
        old, dest=dest, action=RenamedFlag, new=new, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs
    )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, unless it has none worth showing (None, or an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def add_study_arguments(parser: argparse.ArgumentParser, study: Study) -> argparse.ArgumentParser:
    """The flags every study takes, its grid's flags and its own."""
    parser.add_argument("--env", default=DEFAULT_ENV, help="MiniGrid environment id")
    parser.add_argument("--obs", choices=list(OBS_KINDS), help="observations (default: the budget's)")
    parser.add_argument(
        "--lava-look",
        choices=list(LAVA_LOOKS),
        default=DEFAULT_LAVA_LOOK,
        help="how lava is drawn (pixels only): MiniGrid's orange waves, the waves on blue, or plain orange",
    )
    parser.add_argument("--budget", choices=list(STUDY_BUDGETS), default="quick", help="trial length and seeds")
    parser.add_argument(
        "--seeds",
        type=seeds_arg,
        help="seeds per setting, each its own fixed layout (123, 456, 789, 1000, ...; quick budget: 123, 789, 456, "
        "...); default: the budget's (quick 2, paper 5). 'auto': in rounds, one more seed after each round for the "
        "settings still undecided, up to --max-seeds",
    )
    parser.add_argument(
        "--max-seeds", type=int, help=f"with --seeds auto: the most seeds a setting gets (the cap; default {MAX_SEEDS})"
    )
    parser.add_argument(
        "--agent",
        choices=sorted(AGENT_PRESETS),
        default=DEFAULT_AGENT,
        help="DQN preset: 'paper' is the paper's agent exactly; the default adds 3-step returns",
    )
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="results folder: local, or a path every node sees")
    parser.add_argument("--run-id", help="run folder name (default: derived from the study's settings)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run (keeps finished trials)")
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="train every trial, even one whose configuration matches a finished trial in --storage",
    )
    parser.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: as many as CPUs allow)")
    parser.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="share of a GPU each trial's Learner trains on, 0 to 1 (0.25: four trials per GPU; 0: CPU only)",
    )
    parser.add_argument("--artifact-dir", help="pretraining artifacts (default: $SHIELDSWEEP_ARTIFACTS or ./artifacts)")
    parser.add_argument(
        "--pretrain-budget",
        choices=list(PRETRAIN_BUDGETS),
        help="pretraining budget of the encoder and Q_p (default: the study budget's)",
    )
    add_renamed_flag(parser, "--artifacts", "--pretrain-budget", choices=list(PRETRAIN_BUDGETS))
    add_encoder_arguments(parser)
    types = ShieldParams.types()
    for key in study_grid(study):
        parser.add_argument(
            flag(key),
            dest=key,
            type=types[key],
            nargs="+",
            default=list(study_grid(study)[key]),
            choices=({"mode": MODES} | RULE_CHOICES).get(key),
            help=f"values of {key}",
        )
    if study.add_arguments is not None:
        study.add_arguments(parser)
    parser.set_defaults(**study.defaults)
    return parser


DEFAULT_MAX_PRETRAIN_MINUTES = 60.0  # past it a study refuses to pretrain first (`sweeps.preflight`)


def add_encoder_arguments(parser: argparse.ArgumentParser) -> None:
    """The pretraining settings: the encoder's (`EncoderSetting`, part of its artifact key),
    Q_p's route (part of its key) and the pretraining time a study may start with."""
    parser.add_argument(
        "--latent-loss",
        choices=list(LATENT_LOSSES),
        default=DEFAULT_ENCODER.latent_loss,
        help="the encoder's latent loss: 'margin' is the paper's",
    )
    parser.add_argument(
        "--encoder-envs",
        nargs="+",
        default=list(DEFAULT_ENCODER.encoder_envs),
        metavar="ENV",
        help="the tasks on whose random layouts the encoder learns (the paper's: MiniGrid-LavaCrossingS9N1-v0 alone)",
    )
    parser.add_argument(
        "--prior-route",
        choices=list(PRIOR_ROUTES),
        help="how Q_p is built: 'pseudo-reward' (the paper's: source DQNs, then a DQN on their pseudo-reward) or "
        "'distilled' (pixels: taught the symbolic Q_p's values); default: distilled for pixels below the paper "
        "budget, else pseudo-reward",
    )
    parser.add_argument(
        "--max-pretrain-minutes",
        type=float,
        default=DEFAULT_MAX_PRETRAIN_MINUTES,
        help="refuse to start when the missing artifacts would take longer to pretrain on this machine "
        "(estimated from a few seconds' warm-up)",
    )


def prior_route(args: argparse.Namespace, obs: str, pretrain_budget: str) -> str:
    """``--prior-route``, or the default for `obs` and `pretrain_budget`; ValueError naming the flag."""
    return check_prior_route(args.prior_route or default_prior_route(obs, pretrain_budget), obs)


def encoder_setting(args: argparse.Namespace) -> EncoderSetting:
    """The `EncoderSetting` of ``--latent-loss`` and ``--encoder-envs``; ValueError naming the flag."""
    try:
        return EncoderSetting(args.latent_loss, tuple(args.encoder_envs))
    except ValueError as err:
        flag_name = "--latent-loss" if "latent loss" in str(err) else "--encoder-envs"
        raise ValueError(f"{err} (from {flag_name})") from err


AUTO = "auto"
MAX_SEEDS = 10  # --seeds auto's default cap
MAX_SEEDS_LIMIT = 1000  # layouts a study can ask for; more is a typo, not a study


def seeds_arg(text: str) -> int | str:
    """--seeds: a number of seeds, or 'auto'."""
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seeds or 'auto', got {text!r}") from None


def parse_args(study: Study, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"sweeps/{study.name}.py",
        description=study.description,
        formatter_class=HelpFormatter,
    )
    return add_study_arguments(parser, study).parse_args(argv)


@dataclass(frozen=True, order=True)
class TrialKey:
    """One trial of a plan: its setting (an index into `Plan.settings`) and its seed (which is
    also its fixed layout). Written "<setting>:<seed>" where text must carry it (Tune's grid,
    the manifest's reused trials)."""

    setting: int
    seed: int

    def __str__(self) -> str:
        return f"{self.setting}:{self.seed}"

    @classmethod
    def parse(cls, text: str) -> TrialKey:
        """The key written as "<setting>:<seed>"."""
        setting, seed = str(text).split(":")
        return cls(int(setting), int(seed))


@dataclass(frozen=True)
class Plan:
    """A study resolved from the command line: everything needed before compute starts."""

    study: Study
    args: argparse.Namespace
    budget: StudyBudget
    obs: str
    pretrain_budget: str  # pretraining budget of the encoder and Q_p
    encoder: EncoderSetting  # how the encoder is pretrained (latent loss, tasks)
    prior_route: str  # how Q_p is built (`rllib_algos.pretrain_budgets.PRIOR_ROUTES`)
    seeds: list[int]  # every setting's seeds; with --seeds auto, the order seeds are added in, up to the cap
    settings: list[ShieldParams]  # baselines, grid, extra settings: each once (`ShieldParams.acting`)
    run_dir: Path
    resume: bool  # the run must exist (--resume)
    first_round: int | None = None  # with --seeds auto: the seeds of the first round (else None)

    @property
    def trial_keys(self) -> list[TrialKey]:
        """Every setting over every seed, setting by setting."""
        return [TrialKey(index, seed) for index in range(len(self.settings)) for seed in self.seeds]

    @property
    def env(self) -> str:
        return self.args.env

    @property
    def agent(self) -> str:
        return self.args.agent

    @property
    def gpus_per_trial(self) -> float:
        """The share of a GPU each trial's Learner holds (0: it trains on CPU)."""
        return float(self.args.gpus_per_trial)

    @property
    def lava_look(self) -> str:
        """How the trials' pixels draw lava (`shield.envs.LAVA_LOOKS`)."""
        return self.args.lava_look

    @property
    def storage(self) -> Path:
        return Path(self.args.storage).expanduser().resolve()

    @property
    def margins(self) -> list[float]:
        """The encoder margins α the shield settings need, sorted (the paper's when none)."""
        return shield_margins(self.settings) or [PAPER_SHIELD.margin]


def shield_margins(settings: Sequence[ShieldParams]) -> list[float]:
    """The encoder margins α the settings among `settings` that run the state check need, sorted."""
    return sorted({float(s.margin) for s in settings if s.mode in STATE_CHECK_MODES})


def run_id_for(
    study: Study,
    args: argparse.Namespace,
    obs: str,
    pretrain_budget: str,
    settings: Sequence[ShieldParams],
    encoder: EncoderSetting = DEFAULT_ENCODER,
    route: str | None = None,
) -> str:
    """A run id derived from what the run computes, so re-running the same command resumes it.

    It includes the keys of the Q_p and encoder artifacts, so a run with rebuilt or
    re-specified networks starts afresh instead of resuming one made with the old ones.
    """
    keys = [
        prior_spec(obs, pretrain_budget, route=route).key,
        *(encoder_spec(obs, pretrain_budget, m, encoder).key for m in shield_margins(settings)),
    ]
    identity = [study.name, args.env, obs, args.budget, args.agent, args.seeds, [s.to_dict() for s in settings], keys]
    if args.seeds == AUTO:
        identity.append(args.max_seeds)
    if args.lava_look != DEFAULT_LAVA_LOOK:  # left out at the default, so earlier run ids stay
        identity.append({"lava_look": args.lava_look})
    if args.gpus_per_trial > 0:
        # GPU and CPU trials round differently: a run on one does not resume on the other. The
        # share is left out (it changes no number), and so is 0, so CPU run ids stay as they were.
        identity.append("gpu")
    identity = json.dumps(identity, sort_keys=True, default=str)
    short_env = args.env.replace("MiniGrid-", "").replace("-v0", "")
    if args.lava_look != DEFAULT_LAVA_LOOK:
        short_env += f"-{args.lava_look}lava"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{short_env}-{obs}-{args.budget}-{args.agent}-{digest}"


def check_frame(env_id: str, obs: str) -> None:
    """ValueError, saying what to pick, when the shield's networks cannot read `env_id`:
    they are pretrained on the 9×9 frame, into which every smaller task is padded."""
    if obs == "pixels":
        check_pixels_fit(env_id)
    if grid_side(env_id) != FRAME:
        width, height = grid_size(env_id)
        raise ValueError(
            f"{env_id} is {width}×{height}, and the shield's networks read grids up to {FRAME}×{FRAME} "
            f"(smaller tasks are padded to it): no encoder or Q_p is pretrained for larger grids yet; "
            f"pick a task up to {FRAME}×{FRAME}"
        )


def make_plan(
    study: Study, args: argparse.Namespace, extra_settings: Sequence[ShieldParams] = (), run_id: str | None = None
) -> Plan:
    """Check every input and resolve the study, before Ray starts (ValueError on bad input).

    extra_settings: settings run beside the grid (a search's front); run_id: the run
    folder's name, overriding ``--run-id`` and the derived one.
    """
    check_env_id(args.env)
    budget = STUDY_BUDGETS[args.budget]
    obs = check_obs_kind(args.obs or budget.obs)
    try:
        check_frame(args.env, obs)
    except ValueError as err:
        raise ValueError(f"--env: {err}") from None
    try:
        check_lava_look(args.lava_look, obs)
    except ValueError as err:
        raise ValueError(f"--lava-look: {err}") from None
    agent_preset(args.agent)
    seeds_per_setting = budget.seeds if args.seeds is None else args.seeds
    first_round = None
    if args.max_seeds is not None and seeds_per_setting != AUTO:
        raise ValueError("--max-seeds is the cap of --seeds auto: pass --seeds auto with it, or leave it out")
    if seeds_per_setting == AUTO:
        args.max_seeds = MAX_SEEDS if args.max_seeds is None else args.max_seeds
        if not VERDICT_MIN_SEEDS <= args.max_seeds <= MAX_SEEDS_LIMIT:
            raise ValueError(
                f"--max-seeds must be between {VERDICT_MIN_SEEDS} (no verdict is confident with fewer shared seeds) "
                f"and {MAX_SEEDS_LIMIT}, got {args.max_seeds}"
            )
        first_round = min(max(budget.seeds, VERDICT_MIN_SEEDS), args.max_seeds)
        seeds = seeds_for(args.max_seeds, budget.first_seeds)
    else:
        seeds = seeds_for(seeds_per_setting, budget.first_seeds)
    if args.max_concurrent < 0:
        raise ValueError(f"--max-concurrent must be >= 0, got {args.max_concurrent}")
    check_gpus_per_trial(args.gpus_per_trial)
    grid = {key: getattr(args, key) for key in study_grid(study)}
    settings: list[ShieldParams] = []
    for setting in [*study.baselines, *shield_settings(grid), *extra_settings]:
        if setting.acting() not in settings:  # a searched setting may equal a grid one
            settings.append(setting.acting())
    storage = Path(args.storage).expanduser().resolve()
    check_storage(storage)
    pretrain_budget = args.pretrain_budget or budget.pretrain_budget
    encoder = encoder_setting(args)
    route = prior_route(args, obs, pretrain_budget)
    identity = argparse.Namespace(**{**vars(args), "seeds": seeds_per_setting})
    run_id = run_id or args.run_id or run_id_for(study, identity, obs, pretrain_budget, settings, encoder, route)
    run_dir = storage / study.name / run_id
    return Plan(
        study, args, budget, obs, pretrain_budget, encoder, route, seeds, settings, run_dir, args.resume, first_round
    )


def check_gpus_per_trial(gpus: float) -> None:
    """Refuse a GPU share outside [0, 1]: a trial trains on one local Learner, which uses at
    most one GPU (RLlib reserves more without using them)."""
    if not 0.0 <= gpus <= 1.0:  # also refuses nan
        raise ValueError(
            f"--gpus-per-trial must be between 0 and 1 (the share of one GPU a trial's Learner trains on), "
            f"got {gpus}: pass e.g. 0.25 to share each GPU between 4 trials, or 0 to train on CPU"
        )


def check_storage(storage: Path) -> None:
    """Refuse a storage folder this process cannot create or write into."""
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"--storage {str(storage)!r} is not writable: {err}") from err

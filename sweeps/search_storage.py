"""The Optuna study of `sweeps/pareto_search.py`, kept in the run folder, and Optuna's plots of it.

The search's NSGA-II study lives in an Optuna journal, ``<run_dir>/search/optuna.journal``
(study `STUDY_NAME`): every trial it proposed, with its settings and its two objective
values, readable by ``optuna.load_study`` and by optuna-dashboard while the search runs
and after it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure
    from optuna.storages import JournalStorage
    from optuna.trial import FrozenTrial

STUDY_NAME = "pareto_search"
JOURNAL = "optuna.journal"
# PED-ANOVA, Optuna's default importance evaluator, compares the best 10% of the trials
# with all of them: below 20 trials that tenth is one trial or two, and the bars are noise
# (Optuna advises at least 5 in it)
IMPORTANCE_MIN_TRIALS = 20
DPI = 110


def journal_storage(search_dir: Path) -> JournalStorage:
    """The Optuna storage of the search in `search_dir`: the journal file ``optuna.journal``
    there, created (with the folder) when missing."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    search_dir.mkdir(parents=True, exist_ok=True)
    path = str(search_dir / JOURNAL)
    # --storage may be NFS shared by the nodes. The journal takes a lock file for each write
    # (no fcntl locks, which many NFS setups break). An O_EXCL lock file is atomic on NFSv3
    # and later, and works also on shares and FUSE mounts without symlinks, where Optuna's
    # default symlink lock fails. It is the same "optuna.journal.lock" that the symlink lock
    # takes, so optuna-dashboard writing with its default lock still excludes the search.
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def create_search_study(storage: JournalStorage, objectives: Mapping[str, str]) -> optuna.Study:
    """The study `STUDY_NAME` in `storage`, created when missing (else loaded as it is): one
    objective per metric of `objectives` ("max" or "min"), named by the metric's last part
    (``env_runners/shield/return_final`` → ``return_final``), so that Optuna's plots and the
    dashboard name them."""
    import optuna

    directions = ["maximize" if mode == "max" else "minimize" for mode in objectives.values()]
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=directions, load_if_exists=True)
    if study.metric_names is None:
        with _quiet_optuna():
            study.set_metric_names([metric.rsplit("/", 1)[-1] for metric in objectives])
    return study


def write_study_plots(search_dir: Path) -> list[Path]:
    """Optuna's own plots of the search's study, PNG files in `search_dir`; the files written.

    ``optuna_pareto_front.png``: every finished trial's two objectives, the front marked.
    Then per objective, ``optuna_importances_<objective>.png`` (each setting's importance to
    a good value of it, PED-ANOVA) from `IMPORTANCE_MIN_TRIALS` finished trials on, and where
    there are fewer or Optuna cannot tell the settings apart (all got the same value, say),
    ``optuna_slice_<objective>.png`` instead (the objective against each setting, per trial).
    Prints why a plot is skipped or replaced.
    """
    import matplotlib

    matplotlib.use("Agg")  # Optuna draws with pyplot, which would pick a GUI backend on a desktop
    import optuna
    from optuna.trial import TrialState

    journal = search_dir / JOURNAL
    if not journal.exists():  # a search run before the study was kept
        print(f"search: no Optuna study in {search_dir}: its plots are skipped", flush=True)
        return []
    study = optuna.load_study(study_name=STUDY_NAME, storage=journal_storage(search_dir))
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not finished:
        print(f"search: no finished trial in {journal}: its plots are skipped", flush=True)
        return []
    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    written = [_save(search_dir / "optuna_pareto_front.png", lambda: _pareto_front(study, names))]
    for index, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        maximised = direction == optuna.study.StudyDirection.MAXIMIZE
        reason = _no_importances(study, len(finished), index, maximised)
        if reason is None:
            path = search_dir / f"optuna_importances_{name}.png"
            written.append(_save(path, lambda i=index, n=name, m=maximised: _importances(study, i, n, m)))
        else:
            path = search_dir / f"optuna_slice_{name}.png"
            print(f"search: {path.name} instead of importances: {reason}", flush=True)
            written.append(_save(path, lambda i=index, n=name: _slice(study, i, n)))
    return written


def _objective(index: int, sign: float = 1.0) -> Callable[[FrozenTrial], float]:
    return lambda trial: sign * trial.values[index]


def _no_importances(study: optuna.Study, n_finished: int, index: int, maximised: bool) -> str | None:
    """Why the importances of objective `index` are not worth a plot; None when they are."""
    import optuna

    if n_finished < IMPORTANCE_MIN_TRIALS:
        return f"{n_finished} finished trials, importances need {IMPORTANCE_MIN_TRIALS}"
    with _quiet_optuna():
        warnings.filterwarnings("ignore", message=".*importances will be equal")  # said below, and why
        found = optuna.importance.get_param_importances(study, target=_objective(index, -1.0 if maximised else 1.0))
    if len(set(found.values())) <= 1:
        return "Optuna cannot tell the settings apart (every trial the same value?)"
    return None


def _pareto_front(study: optuna.Study, names: list[str]) -> Figure:
    import optuna

    ax = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=names)
    ax.set_title("Optuna NSGA-II search: one point per finished trial (red: on the Pareto front)")
    return ax.figure


def _importances(study: optuna.Study, index: int, name: str, maximised: bool) -> Figure:
    import optuna

    # PED-ANOVA ranks low target values best: a maximised objective is negated
    ax = optuna.visualization.matplotlib.plot_param_importances(
        study, target=_objective(index, -1.0 if maximised else 1.0), target_name=name
    )
    # loc="left": the title Optuna set is there
    ax.set_title(f"Importance of each setting to a {'high' if maximised else 'low'} {name} (PED-ANOVA)", loc="left")
    ax.set_xlabel(f"importance for {name} (sums to 1)")
    return ax.figure


def _slice(study: optuna.Study, index: int, name: str) -> Figure:
    import numpy as np
    import optuna

    axes = np.atleast_1d(optuna.visualization.matplotlib.plot_slice(study, target=_objective(index), target_name=name))
    figure = axes[0].figure
    figure.set_size_inches(4 * len(axes), 4.4)
    figure.suptitle(f"{name} of each finished trial against each setting (colour: trial number)")
    return figure


def _save(path: Path, draw: Callable[[], Figure]) -> Path:
    """`draw()`'s figure saved as `path`, pyplot's state left as it was."""
    import matplotlib
    import matplotlib.pyplot as plt

    # Optuna's plots set pyplot's style sheet (ggplot) for the whole process: kept inside
    # this context, so the study's own plots drawn later in the process keep theirs
    with matplotlib.rc_context(), _quiet_optuna():
        figure = draw()
        try:
            figure.savefig(path, dpi=DPI, bbox_inches="tight")
        finally:
            plt.close(figure)
    return path


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Ignore, while it lasts, Optuna's warnings that these plots are experimental and that
    PED-ANOVA ranks low values best (the targets above are signed for it)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=r".* computes the importances of params to achieve low")
        yield

"""Every study script as a user runs it: smoke-budget runs (real Ray, Tune, RLlib), and the
checks that come before any compute (no Ray)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from shield.agents import AGENT_PRESETS, DEFAULT_AGENT
from shield.settings import PAPER_SHIELD, ShieldParams
from sweeps.paper_figures import COMPARISON_COLUMNS, PAPER_FIGURES
from sweeps.plan import BASELINES, shield_settings
from sweeps.results import HYPERVOLUME_COLUMNS, PARETO_COLUMNS, TRIAL_COLUMNS
from sweeps.search_storage import STUDY_NAME, journal_storage

slow = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def run_study(script: str, storage: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "sweeps" / script), "--budget", "smoke", "--seeds", "1"]
    command += ["--storage", str(storage), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def run_dir(storage: Path, study: str) -> Path:
    """The study's one run folder: the published copy beside it holds files only."""
    (found,) = [p for p in (storage / study).iterdir() if any(q.is_dir() for q in p.iterdir())]
    return found


def check_tables(folder: Path, n_trials: int) -> pd.DataFrame:
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials.columns) == list(TRIAL_COLUMNS)
    assert len(trials) == n_trials and trials["trial_id"].is_unique
    assert (trials["status"] == "TERMINATED").all()
    assert (trials["env_steps"] >= 1200).all()
    pareto = pd.read_csv(folder / "pareto.csv")
    assert list(pareto.columns) == list(PARETO_COLUMNS)
    assert {"dqn", "priors rho=0.95 tau=0"} <= set(pareto["setting"])
    assert pareto["on_front"].any()
    assert list(pd.read_csv(folder / "hypervolume.csv").columns) == list(HYPERVOLUME_COLUMNS)
    for plot in ("pareto.png", "curves_return.png", "curves_violations.png", "visitation.png", "manifest.json"):
        assert (folder / plot).stat().st_size > 0
    # every step of every trial counted in one cell
    visits = pd.read_csv(folder / "visitation.csv").groupby("trial_id")["visits"].sum()
    assert visits.to_dict() == trials.set_index("trial_id")["env_steps"].to_dict()
    return trials


@pytest.fixture(scope="module")
def threshold_run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("threshold")
    done = run_study("threshold.py", storage, "--d-max", "1.0", "4.0")
    return storage, done


@slow
def test_threshold_smoke(threshold_run):
    storage, done = threshold_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = run_dir(storage, "threshold")
    assert str(folder) in done.stdout  # tells the user where the tables are
    trials = check_tables(folder, 4)
    # the default agent preset, in the run id, the manifest and every row of every table
    assert f"-{DEFAULT_AGENT}-" in folder.name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["agent"] == DEFAULT_AGENT and manifest["agent_deviations_from_paper"]
    assert (trials["agent"] == DEFAULT_AGENT).all()
    assert (pd.read_csv(folder / "pareto.csv")["agent"] == DEFAULT_AGENT).all()
    (params,) = folder.glob("*-dqn-seed123/params.json")
    assert json.loads(params.read_text())["n_step"] == AGENT_PRESETS[DEFAULT_AGENT].n_step


@slow
def test_a_second_study_reuses_the_finished_baselines(threshold_run):
    """dqn and priors do not depend on the swept setting: a rho study in the same storage
    copies them from the threshold study instead of training them again."""
    storage, done = threshold_run
    assert done.returncode == 0, done.stderr[-3000:]
    rho = run_study("rho.py", storage, "--rho", "0.5")
    assert rho.returncode == 0, rho.stdout[-3000:] + rho.stderr[-3000:]
    assert "(2 reused from earlier runs)" in rho.stdout
    folder = run_dir(storage, "rho")
    trials = check_tables(folder, 3)
    threshold = pd.read_csv(run_dir(storage, "threshold") / "trials.csv")
    baselines = trials[trials["mode"] != "shield"].set_index("trial_id")
    assert set(baselines.index) <= set(threshold["trial_id"])  # the same trials, not new ones
    for trial_id, row in baselines.iterrows():
        before = threshold.set_index("trial_id").loc[trial_id]
        assert row["violations_total"] == before["violations_total"]
    reused = json.loads((folder / "manifest.json").read_text())["reused_trials"]
    assert len(reused) == 2 and all("threshold" in source for source in reused.values())
    assert len(list(folder.glob("*-shield-seed123"))) == 1  # only the shield trial was trained
    fresh = run_study("rho.py", storage, "--rho", "0.5", "--no-reuse", "--run-id", "fresh")
    assert fresh.returncode == 0 and "(0 reused from earlier runs)" in fresh.stdout


@slow
def test_the_ablation_runs_the_four_modes_on_the_same_seeds(threshold_run):
    """dqn and priors come from the threshold study; state_only and shield are trained."""
    storage, done = threshold_run
    assert done.returncode == 0, done.stderr[-3000:]
    ablation = run_study("ablation.py", storage)
    assert ablation.returncode == 0, ablation.stdout[-3000:] + ablation.stderr[-3000:]
    assert "(2 reused from earlier runs)" in ablation.stdout
    trials = check_tables(run_dir(storage, "ablation"), 4)
    assert sorted(trials["mode"]) == ["dqn", "priors", "shield", "state_only"]
    assert set(trials["seed"]) == {123}
    state_only = trials[trials["mode"] == "state_only"].iloc[0]
    assert np.isnan(state_only["tau"]) and state_only["d_max"] == 2.5  # the state check's settings only
    assert state_only["interventions_total"] <= state_only["env_steps"]


@slow
@pytest.mark.parametrize(
    ("script", "args", "n_trials"),
    [
        ("margin.py", ["--margin", "10"], 3),
        ("buffer_size.py", ["--buffer-size", "10", "--k", "1"], 3),
    ],
)
def test_grid_study_smoke(tmp_path, script, args, n_trials):
    done = run_study(script, tmp_path, *args, "--agent", "paper")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = run_dir(tmp_path, script.removesuffix(".py"))
    assert str(folder) in done.stdout and "-paper-" in folder.name
    trials = check_tables(folder, n_trials)
    assert (trials["agent"] == "paper").all()
    assert json.loads((folder / "manifest.json").read_text())["agent_deviations_from_paper"] == []
    for params in folder.glob("*/params.json"):
        assert json.loads(params.read_text())["n_step"] == 1


@slow
def test_reproduce_smoke_compares_with_the_paper_and_publishes(tmp_path):
    done = run_study("reproduce.py", tmp_path)  # --budget smoke overrides the study's default (paper)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = [p for p in (tmp_path / "reproduce").iterdir() if p.name != DEFAULT_AGENT]
    trials = check_tables(folder, 5)
    shields = {figure.setting for figure in PAPER_FIGURES[-2:]}  # the paper's and the default rules
    assert set(trials["setting"]) == {"dqn", "priors rho=0.95 tau=0", "priors rho=0.5 tau=0", *shields}
    assert (trials["obs"] == "symbolic").all()
    # a smoke run is far from the paper's 200K steps: the table says so instead of comparing
    # (the pairing with the paper's figures: test_results.py, test_plots.py)
    comparison = pd.read_csv(folder / "paper_comparison.csv")
    assert list(comparison.columns) == list(COMPARISON_COLUMNS)
    assert len(comparison) == 1 and not comparison["comparable"].iloc[0]
    assert "env steps; the paper's figures are at 200,000 per trial" in comparison["reason"].iloc[0]
    assert not (folder / "paper_comparison.png").exists()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["pretrain_budget"] == "quick" and manifest["budget"]["name"] == "smoke"
    published = tmp_path / "reproduce" / DEFAULT_AGENT  # one folder per agent preset
    for name in ("paper_comparison.csv", "pareto.csv", "curves_return.png", "manifest.json"):
        assert (published / name).read_bytes() == (folder / name).read_bytes()


@slow
def test_pareto_search_smoke(tmp_path):
    done = run_study("pareto_search.py", tmp_path, "--trials", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = run_dir(tmp_path, "pareto_search")
    search = pd.read_csv(folder / "search" / "trials.csv")
    assert len(search) == 2 and search["mode"].eq("shield").all()
    searched = pd.read_csv(folder / "search" / "pareto.csv")
    assert searched["on_front"].any()
    # its Optuna study, kept in the run folder: every trial finished, with both objectives
    study = optuna.load_study(study_name=STUDY_NAME, storage=journal_storage(folder / "search"))
    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(finished) == len(study.trials) == len(search)
    assert all(len(trial.values) == 2 for trial in finished)
    assert sorted(trial.values[1] for trial in finished) == sorted(search["violations_total"])
    for plot in ("optuna_pareto_front.png", "optuna_slice_return_final.png", "optuna_slice_violations_total.png"):
        assert (folder / "search" / plot).stat().st_size > 0
    settings = [ShieldParams(**s) for s in json.loads((folder / "front" / "manifest.json").read_text())["settings"]]
    # phase 2 runs the baselines, the default setting and every setting on the search's front
    (default,) = shield_settings({})
    expected = [*BASELINES, default]
    for row in searched[searched["on_front"]].itertuples():
        drawn = {"d_max": round(row.d_max, 2), "margin": row.margin, "rho": round(row.rho, 2)}
        setting = replace(default, **drawn, buffer_size=int(row.buffer_size))
        if setting not in expected:
            expected.append(setting)
    assert settings == expected
    front = check_tables(folder / "front", n_trials=len(expected))  # one seed each
    assert len(front) == len(expected) >= 4


@pytest.mark.parametrize(
    ("study", "args", "message"),
    [
        ("threshold", ["--d-max", "-1"], "d_max must be a finite number > 0, got -1.0 (from --d-max)"),
        ("threshold", ["--env", "MiniGrid-Empty-5x5-v0"], "env must be one of"),
        ("threshold", ["--env", "MiniGrid-LavaCrossingS11N5-v0"], "is 11×11, and the shield's networks read grids up"),
        ("threshold", ["--seeds", "0"], "--seeds must be >= 1"),
        ("threshold", ["--seeds", "auto", "--max-seeds", "2"], "--max-seeds must be between 5"),
        ("threshold", ["--seeds", "auto", "--max-seeds", "1000000000"], "--max-seeds must be between 5"),
        ("threshold", ["--max-seeds", "8"], "--max-seeds is the cap of --seeds auto"),
        ("threshold", ["--max-concurrent", "-1"], "--max-concurrent must be >= 0"),
        ("threshold", ["--gpus-per-trial", "-0.1"], "--gpus-per-trial must be between 0 and 1"),
        ("threshold", ["--gpus-per-trial", "1.5"], "--gpus-per-trial must be between 0 and 1"),
        ("threshold", ["--gpus-per-trial", "nan"], "--gpus-per-trial must be between 0 and 1"),
        ("rho", ["--rho", "1.5"], "rho must be in [0, 1], got 1.5 (from --rho)"),
        ("margin", ["--margin", "0"], "margin must be a finite number > 0, got 0.0 (from --margin)"),
        ("buffer_size", ["--k", "0"], "k must be an integer >= 1, got 0 (from --k)"),
        ("threshold", ["--lava-look", "blue"], "--lava-look: lava_look='blue' changes how lava is drawn"),
        ("threshold", ["--prior-route", "distilled"], "--prior-route distilled teaches a pixel Q_p"),
        ("threshold", ["--obs", "pixels", "--artifacts", "paper"], "pretraining the missing artifacts would take"),
    ],
)
def test_bad_input_is_refused_before_compute(tmp_path, capsys, study, args, message):
    """Through the one CLI (`shieldsweep <study>`), which the study scripts share."""
    from sweeps.cli import main

    assert main([study, "--budget", "smoke", "--storage", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_study_script_validates_without_importing_ray(tmp_path):
    """The plan (arguments, validation, run id) needs no Ray: a bad command exits before it."""
    code = (
        "import sys; from sweeps.launch import run_study; from sweeps.threshold import STUDY; "
        f"rc = run_study(STUDY, ['--d-max', '-1', '--storage', {str(tmp_path)!r}]); "
        "assert rc == 2 and 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "d_max must be a finite number > 0" in done.stderr
    agent = run_study("threshold.py", tmp_path, "--agent", "fast", timeout=120)  # the script itself
    assert agent.returncode == 2 and "--agent: invalid choice: 'fast'" in agent.stderr


@slow
def test_interrupted_study_resumes_without_rerunning_finished_trials(tmp_path):
    command = [sys.executable, str(ROOT / "sweeps" / "threshold.py"), "--budget", "smoke", "--seeds", "1"]
    command += ["--storage", str(tmp_path), "--d-max", "2.5", "--max-concurrent", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    trials_csv = None
    deadline = time.time() + 400
    while time.time() < deadline:  # interrupt once some, not all, trials have finished
        folders = (
            [p for p in (tmp_path / "threshold").glob("*") if p.is_dir()] if (tmp_path / "threshold").exists() else []
        )
        trials_csv = folders[0] / "trials.csv" if folders else None
        if trials_csv is not None and trials_csv.exists() and len(pd.read_csv(trials_csv)) >= 2:
            break
        time.sleep(2)
    assert trials_csv is not None and trials_csv.exists(), "no trial finished"
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    finished_before = set(pd.read_csv(trials_csv)["trial_id"])
    assert len(finished_before) == 2  # of 3: dqn, priors, shield d_max=2.5, one at a time

    resumed = subprocess.run([*command, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout
    trials = check_tables(trials_csv.parent, n_trials=3)
    assert finished_before <= set(trials["trial_id"])
    for trial_id in finished_before:  # finished trials were not trained again
        (folder,) = trials_csv.parent.glob(f"{trial_id}-*")
        lines = (folder / "result.json").read_text().splitlines()
        assert len(lines) == 2  # the smoke budget's 2 iterations, once

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Resuming" in again.stdout
    assert len(pd.read_csv(trials_csv)) == 3


# what a trial computed (not when, where or under which id)
OUTCOME_COLUMNS = ["setting", "seed", "env_steps", "violations_total", "return_final", "return_auc", "return_eval"]
OUTCOME_COLUMNS += ["interventions_total", "state_flag_rate", "distance_q50"]


def outcomes(folder: Path) -> pd.DataFrame:
    trials = pd.read_csv(folder / "trials.csv")
    return trials[OUTCOME_COLUMNS].sort_values(["setting", "seed"]).reset_index(drop=True)


def checkpointed_in_experiment_state(run: Path) -> set[str]:
    """Trial folder names whose checkpoint the newest Tune experiment state records (the
    ones a resume restores from; a checkpoint written after it is not known to Tune)."""
    states = sorted(run.glob("experiment_state-*.json"))
    try:
        trials = json.loads(states[-1].read_text())["trial_data"] if states else []
    except ValueError:  # being written
        return set()
    names = set()
    for _, trial_json in trials:
        manager = json.loads(trial_json)["checkpoint_manager"]
        pickled = bytes.fromhex(manager["value"]) if isinstance(manager, dict) else b""
        names |= {folder.name for folder in run.glob("*-seed*") if f"{folder.name}/checkpoint_".encode() in pickled}
    return names


def kill_mid_trial(command: list[str], storage: Path) -> str:
    """Start `command`; SIGKILL its driver once Tune has recorded a checkpoint of a trial
    that has not finished. The name of that trial's folder."""
    env = os.environ | {"TUNE_GLOBAL_CHECKPOINT_S": "0"}  # record checkpoints without delay
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and process.poll() is None:
            for run in (storage / "threshold").glob("*"):
                csv = run / "trials.csv"
                finished = set(pd.read_csv(csv)["trial_id"]) if csv.exists() else set()
                for name in checkpointed_in_experiment_state(run):
                    if name.split("-")[0] not in finished:
                        process.kill()
                        process.wait(timeout=60)
                        return name
            time.sleep(0.1)
    finally:
        process.kill()
    raise AssertionError("no trial was caught between its first recorded checkpoint and its end")


@slow
def test_a_study_whose_driver_is_killed_resumes_to_the_uninterrupted_results(tmp_path):
    """Killed (SIGKILL) while a trial trains past its first checkpoint, then resumed: every
    trial's outcome equals that of the same study run straight through in another storage.
    A copy whose checkpoint is damaged is refused before any compute, saying what to do."""
    import shutil

    args = ["--d-max", "2.5", "--max-concurrent", "1"]
    straight = run_study("threshold.py", tmp_path / "straight", *args)
    assert straight.returncode == 0, straight.stderr[-3000:]

    storage = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "sweeps" / "threshold.py"), "--budget", "smoke", "--seeds", "1"]
    killed_trial = kill_mid_trial([*command, "--storage", str(storage), *args], storage)

    damaged = tmp_path / "damaged"
    shutil.copytree(storage, damaged)
    (trial,) = damaged.glob(f"threshold/*/{killed_trial}")
    checkpoint = sorted(trial.glob("checkpoint_*"))[-1]
    (checkpoint / "resume" / "replay.npz").write_bytes(b"truncated")
    refused = run_study("threshold.py", damaged, *args, "--resume")
    assert refused.returncode == 2
    assert killed_trial in refused.stderr and "--run-id" in refused.stderr and "Starting" not in refused.stdout

    resumed = run_study("threshold.py", storage, *args, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (killed,) = run_dir(storage, "threshold").glob(killed_trial)
    last = json.loads((killed / "result.json").read_text().splitlines()[-1])
    assert last["iterations_since_restore"] < last["training_iteration"]  # restored, not restarted
    pd.testing.assert_frame_equal(
        outcomes(run_dir(storage, "threshold")), outcomes(run_dir(tmp_path / "straight", "threshold"))
    )


@slow
def test_report_rebuilds_tables_from_the_experiment_directory(threshold_run):
    storage, done = threshold_run
    assert done.returncode == 0, done.stderr[-3000:]
    folder = run_dir(storage, "threshold")
    for name in ("trials.csv", "pareto.csv", "pareto.png"):
        (folder / name).unlink()
    report = subprocess.run(
        [str(Path(sys.executable).parent / "shieldsweep"), "report", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    check_tables(folder, n_trials=4)


@pytest.mark.parametrize(
    "published, comparable",
    [
        ("reproduce/nstep3", True),
        ("reproduce/nstep3-LavaCrossingS9N2", False),
        ("reproduce/nstep3-LavaCrossingS9N3", False),
        ("reliability/nstep3", True),
        ("reliability/nstep3-LavaCrossingS9N2", False),
        ("reliability/nstep3-LavaCrossingS9N2-capped", False),
        ("reliability/nstep3-LavaCrossingS9N3", False),
        ("reliability/nstep3-LavaCrossingS9N3-capped", False),
        ("adaptive/nstep3", False),
        ("threshold/quick", False),
    ],
)
def test_report_rebuilds_a_committed_folder_unchanged(tmp_path, published, comparable):
    """A published folder holds no trial folders: its trials.csv and curves.csv are enough
    to rebuild every table the same, and the plots; paper_comparison.png only for a run
    comparable with the paper's (200K steps), the quick ones' tables saying why not."""
    import shutil

    from sweeps.cli import main

    source = ROOT / "results" / published
    folder = tmp_path / "published"
    shutil.copytree(source, folder)
    for png in folder.glob("*.png"):
        png.unlink()
    assert main(["report", str(folder)]) == 0
    for table in ("trials.csv", "curves.csv", "pareto.csv", "hypervolume.csv", "paper_comparison.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(folder / table), pd.read_csv(source / table), obj=table)
    for plot in ("pareto.png", "curves_return.png", "curves_violations.png"):
        assert (folder / plot).stat().st_size > 10_000
    comparison = pd.read_csv(folder / "paper_comparison.csv")
    assert comparison["comparable"].all() == comparable == (folder / "paper_comparison.png").exists()
    reason = comparison["reason"].iloc[0]
    assert comparable or "200,000" in reason or "the paper's figures are for MiniGrid-LavaCrossingS9N1" in reason


def test_the_adaptive_study_runs_each_d_max_fixed_and_as_the_adaptive_rules_start(tmp_path):
    from shield.settings import setting_label
    from sweeps.adaptive import STUDY
    from sweeps.plan import make_plan, parse_args

    plan = make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path)]))
    shield = [s for s in plan.settings if s.mode == "shield"]
    assert [(s.d_max_rule, s.d_max) for s in shield] == [
        ("fixed", 1.0),
        ("fixed", 2.5),
        ("adaptive", 1.0),
        ("adaptive", 2.5),
    ]
    labels = [setting_label(s.to_dict()) for s in plan.settings]
    assert len(set(labels)) == len(labels) == 6  # with dqn and priors
    # a grid over the adaptive parameters leaves the fixed settings alone
    wider = make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path), "--adaptive-recall", "0.8", "0.9"]))
    assert len(wider.settings) == 2 + 2 + 4


def test_report_on_a_missing_or_empty_folder_says_what_to_pass(tmp_path, capsys):
    from sweeps.cli import main

    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a directory: pass a study run folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no trial folders" in capsys.readouterr().err


def test_pareto_search_refuses_zero_trials_before_compute(tmp_path, capsys):
    from sweeps.cli import main

    assert main(["pareto_search", "--budget", "smoke", "--storage", str(tmp_path), "--trials", "0"]) == 2
    assert "--trials must be >= 1, got 0" in capsys.readouterr().err


def test_resume_without_a_run_says_how_to_start_one(tmp_path, capsys):
    from sweeps.cli import main

    assert main(["threshold", "--budget", "smoke", "--storage", str(tmp_path), "--resume"]) == 2
    assert "run the same command without --resume to start it" in capsys.readouterr().err


@slow
def test_seeds_auto_adds_seeds_only_where_undecided_and_resumes_between_rounds(tmp_path):
    """--seeds auto at the smoke budget: each round trains only its new trials (the others
    are copied from the earlier rounds), the new trials are those `sweeps.rounds` asks for
    after the previous round, the manifest lists the rounds, and a study stopped between
    rounds resumes to the same rounds without training the finished ones again."""
    from sweeps.budgets import seeds_for
    from sweeps.rounds import next_seeds
    from sweeps.verdicts import VERDICT_MIN_SEEDS

    args = ["--seeds", "auto", "--max-seeds", "6", "--d-max", "4.0"]
    done = run_study("threshold.py", tmp_path, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = run_dir(tmp_path, "threshold")
    manifest = json.loads((folder / "manifest.json").read_text())
    rounds = manifest["rounds"]
    first = 3 * VERDICT_MIN_SEEDS  # 3 settings, on as many seeds as a verdict needs
    assert rounds[0]["trials"] == first and rounds[0]["new_trials"] == first
    for number, record in enumerate(rounds, start=1):
        round_dir = folder / f"round-{number}"
        trials = pd.read_csv(round_dir / "trials.csv")
        assert len(trials) == record["trials"]
        trained = [p for p in round_dir.glob("*/params.json") if not p.parent.name.startswith("reused-")]
        assert len(trained) == record["new_trials"]
        if number > 1:  # the previous round's verdicts chose this round's new seeds
            before = rounds[number - 2]
            asked = next_seeds(pd.read_csv(folder / f"round-{number - 1}" / "pareto.csv"), before["seeds"],
                               seeds_for(6), 6)  # fmt: skip
            assert {s: seeds[-1] for s, seeds in record["seeds"].items() if seeds != before["seeds"][s]} == asked
    last = pd.read_csv(folder / f"round-{len(rounds)}" / "pareto.csv")
    assert pd.read_csv(folder / "pareto.csv").equals(last)  # the study's tables are its last round's
    assert manifest["undecided_at_cap"] == last.loc[last["verdict"] == "undecided", "setting"].tolist()
    if len(rounds) > 1:
        import shutil

        def first_round() -> dict[str, int]:  # trial folder: results it logged
            return {p.parent.name: len(p.read_text().splitlines()) for p in (folder / "round-1").glob("*/result.json")}

        trained_first = first_round()
        shutil.rmtree(folder / f"round-{len(rounds)}")  # as if stopped before the last round
        resumed = run_study("threshold.py", tmp_path, *args, "--resume")
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        again = json.loads((folder / "manifest.json").read_text())["rounds"]
        assert [r["seeds"] for r in again] == [r["seeds"] for r in rounds]
        assert first_round() == trained_first  # nothing trained again there


@pytest.mark.parametrize("script", ["threshold", "rho", "buffer_size", "margin", "reproduce"])
def test_every_study_takes_the_papers_shield_rules(tmp_path, script):
    import importlib

    from shield.settings import DEFAULT_SHIELD, PAPER_SHIELD
    from sweeps.plan import make_plan, parse_args

    study = importlib.import_module(f"sweeps.{script}").STUDY
    default = make_plan(study, parse_args(study, ["--storage", str(tmp_path)]))
    paper = make_plan(
        study, parse_args(study, ["--storage", str(tmp_path), "--buffer-rule", "ring", "--d-max-rule", "fixed"])
    )
    grid = [s for s in default.settings if s.mode == "shield" and s not in study.baselines]
    assert grid and all(s.buffer_rule == DEFAULT_SHIELD.buffer_rule for s in grid)
    papers = [s for s in paper.settings if s.mode == "shield" and s not in study.baselines]
    assert all((s.buffer_rule, s.d_max_rule) == (PAPER_SHIELD.buffer_rule, "fixed") for s in papers)
    assert default.run_dir != paper.run_dir


def test_a_trial_key_is_one_setting_on_one_seed_and_reads_back_from_its_text(tmp_path):
    from sweeps.plan import TrialKey, make_plan, parse_args
    from sweeps.threshold import STUDY

    key = TrialKey(setting=3, seed=1000)
    assert str(key) == "3:1000" and TrialKey.parse(str(key)) == key
    with pytest.raises(ValueError):
        TrialKey.parse("3")
    plan = make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path), "--seeds", "2"]))
    keys = plan.trial_keys
    assert len(keys) == len(plan.settings) * 2 == len(set(keys))
    assert {key.seed for key in keys} == set(plan.seeds)
    assert {key.setting for key in keys} == set(range(len(plan.settings)))


def test_a_search_front_setting_that_equals_a_grid_setting_runs_once(tmp_path):
    """The front's settings name only what the search drew (d_max, margin, rho, buffer_size);
    one equal to a grid setting in every field that acts is that setting, not a second one."""
    from shield.settings import DEFAULT_SHIELD
    from sweeps.plan import make_plan, parse_args
    from sweeps.threshold import STUDY

    args = ["--storage", str(tmp_path), "--d-max", "2.5", "3.5"]
    plain = make_plan(STUDY, parse_args(STUDY, args))
    drawn = replace(DEFAULT_SHIELD, d_max=2.5, margin=10.0, rho=0.95, buffer_size=100)
    # a value the capped rule does not read: computes the same as the grid's setting
    unread = replace(drawn, adaptive_recall=0.5)
    new = replace(drawn, d_max=1.25)
    plan = make_plan(STUDY, parse_args(STUDY, args), extra_settings=[drawn, unread, new])
    assert plan.settings == [*plain.settings, new]


def test_tables_group_trials_by_their_values_not_by_their_labels():
    """Two settings whose labels read alike at a glance stay apart, and a row's label only
    orders the table: the rows of one setting are one row of pareto.csv."""
    from sweeps.results import pareto_table, trial_row

    rows = []
    runs = [(2.5, 1, 0.9), (2.5, 2, 0.8), (2.5000001, 1, 0.1), (2.5000001, 2, 0.2)]
    for trial, (d_max, seed, ret) in enumerate(runs):
        config = {"shield_config": replace(PAPER_SHIELD, d_max=d_max).to_dict(), "seed": seed}
        result = {"env_runners": {"shield": {"return_final": ret, "violations_total": 10 * trial}}}
        rows.append(trial_row(str(trial), "TERMINATED", config, result))
    table = pareto_table(pd.DataFrame(rows))
    assert sorted(table["d_max"]) == [2.5, 2.5000001] and len(set(table["setting"])) == 2
    means = dict(zip(table["d_max"], table["return_final_mean"], strict=True))
    assert means[2.5] == pytest.approx(0.85) and means[2.5000001] == pytest.approx(0.15)


def test_the_old_pretraining_flags_still_work_and_name_the_new_one(tmp_path, capsys):
    from sweeps.cli import build_parser
    from sweeps.plan import make_plan, parse_args
    from sweeps.threshold import STUDY

    plan = make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path), "--artifacts", "smoke"]))
    assert plan.pretrain_budget == "smoke"
    assert "--artifacts is now --pretrain-budget" in capsys.readouterr().err
    assert make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path)])).pretrain_budget == "quick"
    args = build_parser().parse_args(["pretrain", "--budget", "smoke"])
    assert args.pretrain_budget == "smoke"
    assert "--budget is now --pretrain-budget" in capsys.readouterr().err


def test_the_lava_look_is_part_of_the_run_and_of_the_trials_env_config(tmp_path):
    from rllib_algos.trial_config import env_config
    from sweeps.plan import make_plan, parse_args
    from sweeps.threshold import STUDY

    def plan(*extra: str):
        return make_plan(STUDY, parse_args(STUDY, ["--obs", "pixels", "--storage", str(tmp_path), *extra]))

    default, blue = plan(), plan("--lava-look", "blue")
    assert "-bluelava-" in blue.run_dir.name and "bluelava" not in default.run_dir.name
    assert blue.run_dir != plan("--lava-look", "flat").run_dir
    assert env_config("pixels", blue.lava_look) == {"obs": "pixels", "lava_look": "blue"}
    assert env_config("pixels", default.lava_look) == {"obs": "pixels"}  # the runs of before looks resume

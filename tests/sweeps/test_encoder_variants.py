"""Studies over the encoder's pretraining: its settings in the artifact key, the variants'
plans and the comparison tables (no Ray: the runs themselves are committed results)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from rllib_algos.pretrain_budgets import DEFAULT_ENCODER, ENCODER_TRAIN_ENVS, EncoderSetting, encoder_spec
from sweeps.encoder_variants import Variant, fronts_figure, operating_points, variant_plans
from sweeps.plan import make_plan, parse_args
from tests.sweeps.test_plots import overprinted

ROOT = Path(__file__).resolve().parents[2]
S9N1, S9N2, S9N3 = (f"MiniGrid-LavaCrossingS9N{n}-v0" for n in (1, 2, 3))


def test_the_encoders_tasks_and_loss_are_part_of_its_artifact_key():
    default = encoder_spec("symbolic", "quick", 10.0)
    assert (ROOT / "artifacts" / default.key).is_dir()  # the committed encoder keeps its key
    assert encoder_spec("symbolic", "quick", 10.0, EncoderSetting(encoder_envs=ENCODER_TRAIN_ENVS)) == default
    s9n1 = encoder_spec("symbolic", "quick", 10.0, EncoderSetting(encoder_envs=(S9N1,)))
    assert s9n1.config["train_envs"] == [S9N1] and "-onS9N1-" in s9n1.key and s9n1.key != default.key
    triplet = encoder_spec("symbolic", "quick", 10.0, EncoderSetting("triplet"))
    assert triplet.config["latent_loss"] == "triplet" and "-triplet-" in triplet.key
    both = encoder_spec("symbolic", "quick", 10.0, EncoderSetting("supcon", (S9N1, S9N2)))
    assert "-supcon-onS9N1+S9N2-" in both.key
    assert len({default.key, s9n1.key, triplet.key, both.key}) == 4


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"latent_loss": "byol"}, "latent loss must be one of"),
        ({"encoder_envs": ()}, "at least one"),
        ({"encoder_envs": ("CartPole-v1",)}, "env must be one of"),
        ({"encoder_envs": (S9N1, S9N1)}, "twice"),
        ({"encoder_envs": ("MiniGrid-LavaCrossingS11N5-v0",)}, "larger than the 9×9 frame"),
    ],
)
def test_a_bad_encoder_setting_is_refused(setting, message):
    with pytest.raises(ValueError, match=message):
        EncoderSetting(**setting)


def transfer_plan(tmp_path, *args: str):
    from sweeps.transfer import STUDY

    return make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path), *args]))


def test_each_variant_runs_in_its_own_folder_and_the_default_encoders_run_is_the_usual_one(tmp_path):
    from sweeps.transfer import PAPER_ENCODER

    plan = transfer_plan(tmp_path)
    variants = [Variant(n, env, e) for env in (S9N2, S9N3) for n, e in (("a", PAPER_ENCODER), ("b", DEFAULT_ENCODER))]
    plans = variant_plans(plan, variants)
    assert len({p.run_dir for p in plans}) == 4
    assert [p.env for p in plans] == [S9N2, S9N2, S9N3, S9N3]
    assert plans[0].encoder == PAPER_ENCODER and plans[1].encoder == DEFAULT_ENCODER
    # the default encoder's run is the one the same command without the study's loop makes
    direct = transfer_plan(tmp_path, "--env", S9N2)
    assert plans[1].run_dir == direct.run_dir
    assert [s.d_max_rule for s in plans[0].settings if s.mode == "shield"] == ["fixed", "adaptive", "capped"]
    with pytest.raises(ValueError, match="run a on CartPole-v1"):
        variant_plans(plan, [Variant("a", "CartPole-v1", PAPER_ENCODER)])


def test_operating_points_come_from_the_encoders_manifest(tmp_path):
    from sweeps.latent_loss import STUDY

    plan = make_plan(STUDY, parse_args(STUDY, ["--storage", str(tmp_path), "--artifact-dir", str(ROOT / "artifacts")]))
    rows = operating_points(plan, Variant("margin", S9N1, DEFAULT_ENCODER))
    assert [r["env"] for r in rows] == [S9N1, S9N2, S9N3]  # every task it was measured on
    (row,) = [r for r in rows if r["env"] == S9N2]
    manifest = json.loads((ROOT / "artifacts" / encoder_spec("symbolic", "quick").key / "manifest.json").read_text())
    quality = manifest["quality"][S9N2]
    assert row["roc_auc"] == quality["roc_auc"] and row["d_max"] == 2.5
    assert row["flag_rate"] == quality["operating_points"]["d_max"]["2.5"]["flag_rate"]
    assert row["D_safe_q50"] == quality["operating_points"]["D_safe"]["q50"]


def test_the_fronts_figure_has_a_panel_per_task_and_names_every_variant():
    base = {"return_final_ci_low": np.nan, "return_final_ci_high": np.nan, "d_max_rule": np.nan}
    rows = [
        dict(base, variant=v, env=env, mode=mode, setting=f"{mode} x", return_final_mean=r, violations_total_mean=x)
        for env in (S9N2, S9N3)
        for v, mode, r, x in (("a", "dqn", 0.9, 500.0), ("a", "shield", 0.8, 50.0), ("b", "shield", 0.9, 5.0))
    ]
    table = pd.DataFrame(rows).assign(violations_total_ci_low=np.nan, violations_total_ci_high=np.nan)
    fig = fronts_figure(table, "transfer")
    assert len(fig.axes) == 2
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["dqn", "a: shield fixed", "b: shield fixed"]  # named once each, in a legend: no overprinting
    sizes = [line.get_markersize() for line in fig.axes[0].lines if line.get_marker() == "o"]
    assert sizes[0] > sizes[-1]  # a later variant drawn inside an earlier one where they coincide
    assert fig.axes[0].get_xscale() == "symlog"  # 5 to 500 violations, on the report's own scale


@pytest.mark.parametrize("study", ["latent_loss", "transfer"])
def test_the_committed_fronts_figures_overprint_nothing(study):
    """The committed comparisons' own rows, drawn as the study draws them."""
    fronts = pd.read_csv(ROOT / "results" / study / "nstep3" / "fronts.csv")
    fig = fronts_figure(fronts, f"{study}: a title as long as a study's title is")
    FigureCanvasAgg(fig)
    assert overprinted(fig) == []
    drawn = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {f"{v}: " for v in fronts["variant"]} <= {name[: name.index(":") + 2] for name in drawn if ":" in name}

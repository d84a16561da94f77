from __future__ import annotations

import numpy as np
import pytest
import torch

from rllib_algos.pretrain_budgets import DISTILL_ENVS, default_prior_route, prior_spec
from shield.distill import distill_q, paired_experience
from shield.networks import QNetwork

AGENT = 10  # MiniGrid's object index of the agent


def _red_cell(pixels: np.ndarray) -> tuple[int, int]:
    """The (x, y) cell with the most pure-red pixels: the agent's triangle (lava is orange)."""
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    edges = [i * 28 // 3 for i in range(10)]
    scores = [[red[edges[y] : edges[y + 1], edges[x] : edges[x + 1]].sum() for x in range(9)] for y in range(9)]
    y, x = np.unravel_index(np.argmax(scores), (9, 9))
    return int(x), int(y)


def test_paired_states_show_the_same_state_both_ways():
    states = paired_experience(DISTILL_ENVS, 150, seed=3)
    assert len(states) == 150
    assert states.symbolic.shape == (150, 9, 9, 3) and states.pixels.shape == (150, 84, 84, 3)
    for symbolic, pixels in zip(states.symbolic, states.pixels, strict=True):
        x, y = np.argwhere(symbolic[..., 0] == AGENT)[0]
        assert _red_cell(pixels) == (x, y)


def test_distillation_fits_the_student_to_the_teacher_and_freezes_it():
    torch.manual_seed(0)
    teacher = QNetwork("symbolic").eval().requires_grad_(False)
    student = QNetwork("pixels")
    states = paired_experience(DISTILL_ENVS, 64, seed=0)
    record = distill_q(teacher, student, states, updates=5, seed=0)
    assert set(record) == {"loss_final", "train_s", "teacher_std"}
    assert record["loss_final"] >= 0 and record["teacher_std"] > 0
    assert not student.training and not any(p.requires_grad for p in student.parameters())


def test_the_prior_route_defaults_and_refusals():
    assert default_prior_route("pixels", "quick") == "distilled"
    assert default_prior_route("pixels", "paper") == "pseudo-reward"
    assert default_prior_route("symbolic", "quick") == "pseudo-reward"
    distilled = prior_spec("pixels", "quick")
    assert distilled.key.startswith("prior_q-pixels-quick-distilled-")
    assert distilled.config["teacher"] == prior_spec("symbolic", "quick").key
    # the paper's route keeps the key it had before routes existed
    assert "variant" not in prior_spec("pixels", "quick", route="pseudo-reward").config
    assert prior_spec("symbolic", "quick").key == "prior_q-symbolic-quick-850f3b3f72"
    with pytest.raises(ValueError, match="with --obs symbolic pass --prior-route pseudo-reward"):
        prior_spec("symbolic", "quick", route="distilled")
    with pytest.raises(ValueError, match="--prior-route must be one of"):
        prior_spec("pixels", "quick", route="teacher")

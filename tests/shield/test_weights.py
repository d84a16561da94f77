from __future__ import annotations

import pytest
import torch

from shield.weights import build, load_frozen, save_frozen


def test_round_trip_is_frozen_and_identical(tmp_path):
    net = build("prior_q", "symbolic")
    path = save_frozen(tmp_path / "q.pt", "prior_q", "symbolic", net)
    loaded = load_frozen(path, "prior_q", "symbolic")
    x = torch.randint(0, 11, (3, 9, 9, 3), dtype=torch.uint8)
    torch.testing.assert_close(loaded(x), net(x))
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_missing_file_names_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="weights.encoders .* does not exist"):
        load_frozen(tmp_path / "nope.pt", "encoder", "symbolic")
    with pytest.raises(ValueError, match="weights.prior_q is required"):
        load_frozen(None, "prior_q", "symbolic")


def test_wrong_kind_obs_or_shape_is_refused(tmp_path):
    encoder = save_frozen(tmp_path / "e.pt", "encoder", "symbolic", build("encoder", "symbolic"))
    with pytest.raises(ValueError, match="weights.prior_q .* holds a 'encoder' network"):
        load_frozen(encoder, "prior_q", "symbolic")
    with pytest.raises(ValueError, match="trained for obs='symbolic'.*obs='pixels'"):
        load_frozen(encoder, "encoder", "pixels")
    with pytest.raises(ValueError, match="does not fit the encoder network"):
        load_frozen(encoder, "encoder", "symbolic", latent_dim=20)


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="weights.encoders .* is not a readable weight file"):
        load_frozen(path, "encoder", "symbolic")

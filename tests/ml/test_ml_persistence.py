"""Saving and loading: config.json + weights, SHA-256, identical outputs after a reload."""

import json

import pytest
import torch

from ml.persistence import file_sha256, load_model, read_config, save_model
from ml.registry import create_model


@pytest.mark.parametrize(
    ("task", "architecture", "encoder", "kwargs"),
    [
        ("order_classifier", "resnet34", None, {"dropout": 0.3, "target_nm_per_px": 1.5}),
        ("defect_segmenter", "unet", "resnet34", {"target_nm_per_px": 0.8}),
        ("patch_embedder", "alexnet", None, {"dim": 32}),
    ],
)
def test_a_reloaded_model_gives_identical_outputs(tmp_path, task, architecture, encoder, kwargs):
    torch.manual_seed(1)
    model = create_model(task, architecture, encoder, **kwargs).eval()
    sha256 = save_model(model, tmp_path / "m", {"note": "test"})
    loaded = load_model(tmp_path / "m", "cpu")
    x = torch.randn(2, 1, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not loaded.training
    assert loaded.spec == model.spec
    assert sha256 == file_sha256(tmp_path / "m" / "weights.safetensors")


def test_config_json_names_the_model_the_weights_and_the_metadata(tmp_path):
    model = create_model("defect_segmenter", "fpn", "se_resnet50")
    sha256 = save_model(model, tmp_path, {"folds": 5})
    config = read_config(tmp_path)
    assert config["model"] == {
        "task": "defect_segmenter",
        "architecture": "fpn",
        "encoder": "se_resnet50",
        "kwargs": {"target_nm_per_px": 0.6, "particle_diameter_nm": 3.0},
    }
    assert config["weights"] == {"file": "weights.safetensors", "sha256": sha256}
    assert config["metadata"] == {"folds": 5}
    json.dumps(config)


def test_pt_weights_load_too_and_a_wrong_hash_is_refused(tmp_path):
    model = create_model("patch_embedder", "alexnet")
    sha256 = save_model(model, tmp_path, weights_format="pt")
    assert (tmp_path / "weights.pt").is_file()
    load_model(tmp_path, expected_sha256=sha256)
    with pytest.raises(ValueError, match="SHA-256"):
        load_model(tmp_path, expected_sha256="0" * 64)


def test_a_model_without_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no spec"):
        save_model(torch.nn.Linear(2, 2), tmp_path)

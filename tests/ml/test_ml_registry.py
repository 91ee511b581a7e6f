"""The model registry: valid names, every model's forward pass, and no network access."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ml.registry import MODELS, create_model, registered_models
from ml.spec import TASKS

# Heads of VGG-13 and AlexNet are 100+ M parameters by default; tests keep them small.
SMALL = {"order_classifier": {"hidden_features": [16]}}


def _small_kwargs(task, architecture):
    return SMALL.get(task, {}) if architecture not in ("resnet18", "resnet34") else {}


def test_registry_covers_the_platform_tasks():
    assert (
        tuple(MODELS)
        == TASKS
        == ("order_classifier", "defect_segmenter", "patch_embedder", "particle_segmenter")
    )
    assert set(MODELS["particle_segmenter"].architectures) == {"unet", "fpn"}
    assert set(MODELS["order_classifier"].architectures) == {
        "resnet34",
        "vgg13",
        "alexnet",
        "resnet18",
    }
    assert set(MODELS["defect_segmenter"].architectures) == {"fpn", "unet"}
    assert set(MODELS["defect_segmenter"].architectures["fpn"]) >= {"resnet34", "se_resnet50"}


def test_unknown_task_lists_valid_tasks():
    with pytest.raises(ValueError, match="order_classifier, defect_segmenter, patch_embedder"):
        create_model("classifier", "resnet34")


def test_unknown_architecture_lists_valid_architectures():
    with pytest.raises(ValueError, match="resnet34, vgg13, alexnet"):
        create_model("order_classifier", "resnet50")


def test_unknown_encoder_lists_valid_encoders():
    with pytest.raises(ValueError, match="resnet34, se_resnet50, vgg13, vgg16"):
        create_model("defect_segmenter", "fpn", "efficientnet-b0")


def test_encoder_is_refused_where_the_architecture_names_the_network():
    with pytest.raises(ValueError, match="takes no encoder"):
        create_model("order_classifier", "resnet34", "resnet34")


def test_segmenter_encoder_defaults_to_resnet34():
    assert create_model("defect_segmenter", "unet").spec.encoder == "resnet34"


def test_an_empty_encoder_means_none():
    assert create_model("patch_embedder", "alexnet", "").spec.encoder is None


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any socket use fails; download caches point at an empty folder."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in ("TORCH_HOME", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.mark.parametrize(("task", "architecture", "encoder"), registered_models())
def test_every_model_builds_offline_and_runs_a_forward_pass(
    no_network, task, architecture, encoder
):
    torch.manual_seed(0)
    model = create_model(task, architecture, encoder, **_small_kwargs(task, architecture)).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.inference_mode():
        out = model(x)
    assert model.spec.task == task
    assert torch.isfinite(out).all()
    if task == "order_classifier":
        assert out.shape == (2,)
        score = model.score(x)
        assert ((score > 0) & (score < 1)).all()
    elif task == "defect_segmenter":
        assert out.shape == (2, 4, 64, 64)
        probabilities = torch.sigmoid(out)
        assert ((probabilities >= 0) & (probabilities <= 1)).all()
    elif task == "particle_segmenter":
        assert out.shape == (2, 1, 64, 64)  # particle logits at full resolution
    else:
        assert out.shape == (2, model.dim)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    assert not any(no_network.iterdir()), "something was written to the download cache"


def test_default_classifier_heads_have_the_papers_parameter_counts(no_network):
    counts = {
        name: sum(p.numel() for p in create_model("order_classifier", name).parameters())
        for name in ("resnet34", "alexnet")
    }
    assert round(counts["resnet34"] / 1e6) == 21
    assert round(counts["alexnet"] / 1e6) == 57


def test_embedder_dimension_can_be_chosen():
    embedder = create_model("patch_embedder", "resnet34", dim=64).eval()
    with torch.inference_mode():
        vectors = embedder(torch.randn(3, 1, 32, 32))
    assert vectors.shape == (3, 64)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))


IMPORT_EVERYTHING_OFFLINE = """
import socket
attempts = []

def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network blocked")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import ml.augment, ml.crossval, ml.data, ml.inference, ml.persistence, ml.recipes, ml.registry
print("network attempts:", len(attempts))
"""


def test_importing_ml_attempts_no_network_access():
    # albumentations asks PyPI for updates on import unless ml.augment switches that off.
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING_OFFLINE],
        cwd=root,
        # The repository first, then whatever the caller's path held (e.g. carried wheels).
        env={
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "network attempts: 0" in done.stdout

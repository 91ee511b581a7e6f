"""Saving and loading models as a folder: ``config.json`` beside the weights.

``config.json`` holds the model's :class:`ml.spec.ModelSpec` (what
:func:`ml.registry.create_model` needs to rebuild it), the weights file name
and its SHA-256, and free metadata from the caller (training settings,
cross-validation metrics). Weights are ``weights.safetensors`` (no code runs
on load) or, on request, ``weights.pt``. Nothing is fetched from anywhere.

Example:
    >>> sha256 = save_model(model, "var/models/clf-1", {"epochs": 40})
    >>> same = load_model("var/models/clf-1", "cpu")
"""

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ml.device import resolve_device
from ml.registry import create_from_spec
from ml.spec import ModelSpec

CONFIG_NAME = "config.json"
WEIGHTS_NAMES = {"safetensors": "weights.safetensors", "pt": "weights.pt"}
FORMAT_VERSION = 1


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(
    model: nn.Module,
    directory: str | Path,
    config: Mapping[str, Any] | None = None,
    *,
    weights_format: Literal["safetensors", "pt"] = "safetensors",
) -> str:
    """Write ``config.json`` and the weights of ``model`` to ``directory``.

    Args:
        model: a model built by :func:`ml.registry.create_model` (it has ``spec``).
        directory: folder, created if missing; earlier files there are replaced.
        config: JSON-friendly metadata stored under ``"metadata"``.
        weights_format: ``"safetensors"`` (default) or ``"pt"``.

    Returns:
        Hex SHA-256 of the weights file.
    """
    spec: ModelSpec | None = getattr(model, "spec", None)
    if spec is None:
        raise ValueError("model has no spec; build it with ml.registry.create_model")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAMES[weights_format]
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    if weights_format == "safetensors":
        save_file(state, weights)
    else:
        torch.save(state, weights)
    sha256 = file_sha256(weights)
    document = {
        "format_version": FORMAT_VERSION,
        "model": spec.to_dict(),
        "weights": {"file": weights.name, "sha256": sha256},
        "metadata": dict(config or {}),
    }
    (folder / CONFIG_NAME).write_text(json.dumps(document, indent=2, sort_keys=True))
    return sha256


def read_config(directory: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved model."""
    return json.loads((Path(directory) / CONFIG_NAME).read_text())


def load_model(
    directory: str | Path,
    device: str | torch.device = "cpu",
    *,
    expected_sha256: str | None = None,
) -> nn.Module:
    """Rebuild a saved model through the registry and load its weights.

    Args:
        directory: folder written by :func:`save_model`.
        device: torch device or a name for :func:`ml.device.resolve_device`.
        expected_sha256: if given, the weights file must have this SHA-256.

    Returns:
        The model on ``device``, in eval mode.

    Raises:
        ValueError: the weights file's SHA-256 differs from ``expected_sha256``.
    """
    folder = Path(directory)
    document = read_config(folder)
    weights = folder / document["weights"]["file"]
    if expected_sha256 is not None and file_sha256(weights) != expected_sha256:
        raise ValueError(f"{weights} does not have SHA-256 {expected_sha256}")
    model = create_from_spec(ModelSpec.from_dict(document["model"]))
    if weights.suffix == ".safetensors":
        state = load_file(weights, device="cpu")
    else:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    return model.to(target).eval()

"""Loading stored model versions into torch, cached per worker process.

Weights live in media storage; ml.persistence loads from a folder, so a
version is unpacked once into ``var/model-cache/<sha256>/`` (the key makes a
stale cache impossible) and kept in memory per process: workers load models
after the fork, never before.
"""

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from torch import nn

from ml.device import resolve_device
from ml.persistence import CONFIG_NAME, load_model
from nanomark.registry.models import ModelVersion


def unpack(version: ModelVersion) -> Path:
    """The folder holding ``version``'s config.json and weights, written on first use."""
    folder = settings.VAR_DIR / "model-cache" / version.weights_sha256
    weights = folder / version.config["weights"]["file"]
    if not weights.exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(version.config))
        partial = weights.with_suffix(".partial")
        with version.weights.open("rb") as source:
            partial.write_bytes(source.read())
        partial.replace(weights)  # atomic: a reader never sees half a file
    return folder


@lru_cache(maxsize=8)
def _load(version_pk: int, sha256: str, device: str) -> nn.Module:
    version = ModelVersion.objects.get(pk=version_pk)
    return load_model(unpack(version), device, expected_sha256=sha256)


def load_version(version: ModelVersion) -> nn.Module:
    """``version``'s model in eval mode on the configured device (NANOMARK_DEVICE)."""
    device = str(resolve_device(settings.NANOMARK_DEVICE))
    return _load(version.pk, version.weights_sha256, device)

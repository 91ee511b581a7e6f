"""Loading stored model versions into torch, cached per worker process.

Weights live in media storage; ml.persistence loads from a folder, so a
version is unpacked into ``var/model-cache/<sha256>/`` by
:mod:`ml.modelcache` (safe for any number of workers and hosts filling it at
once, every file verified by its digest) and kept in memory per process:
workers load models after the fork, never before.
"""

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from torch import nn

from ml.device import resolve_device
from ml.modelcache import load_cached_model
from nanomark.registry.models import ModelVersion


def cache_folder(version: ModelVersion) -> Path:
    """``version``'s entry in the local model cache."""
    return settings.VAR_DIR / "model-cache" / version.weights_sha256


@lru_cache(maxsize=8)
def _load(version_pk: int, sha256: str, device: str) -> nn.Module:
    version = ModelVersion.objects.get(pk=version_pk)
    return load_cached_model(
        cache_folder(version), version.config, lambda: version.weights.open("rb"), sha256, device
    )


def load_version(version: ModelVersion) -> nn.Module:
    """``version``'s model in eval mode on the configured device (NANOMARK_DEVICE)."""
    device = str(resolve_device(settings.NANOMARK_DEVICE))
    return _load(version.pk, version.weights_sha256, device)

"""Storing a trained model as a ModelVersion: its weights in media storage, its spec and metrics.

Every training path ends here (classifiers, defect and particle segmenters,
the embedder cut from a classifier), and so do the tests and benches that
make a version from a model in memory.
"""

import json
import math
import tempfile
from pathlib import Path

from django.utils import timezone

from ml.persistence import CONFIG_NAME, save_model
from nanomark.imaging.storage import save_file
from nanomark.registry.models import ModelVersion


def version_name(spec, run_pk: int, suffix: str = "") -> str:
    """A new version's name: ``<architecture>[-<encoder>]-<YYYYmmdd-HHMM>-run<pk><suffix>``."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    network = spec.architecture + (f"-{spec.encoder}" if spec.encoder else "")
    return f"{network}-{stamp}-run{run_pk}{suffix}"


def store_model(
    model,
    *,
    lab_id: int,
    name: str,
    metadata: dict,
    metrics: dict,
    created_by=None,
    derived_from: ModelVersion | None = None,
) -> ModelVersion:
    """Save ``model``'s weights to media storage and record them as a new ModelVersion.

    ``derived_from`` is the version ``model`` was cut from (an embedder's classifier).
    """
    spec = model.spec
    with tempfile.TemporaryDirectory() as folder:
        sha256 = save_model(model, folder, metadata)
        document = (Path(folder) / CONFIG_NAME).read_text()
        weights_file = next(p for p in Path(folder).iterdir() if p.name != CONFIG_NAME)
        stored = save_file(
            f"models/lab{lab_id}/{name}/{weights_file.name}", weights_file.read_bytes(), []
        )
    return ModelVersion.objects.create(
        lab_id=lab_id,
        task=spec.task,
        name=name,
        architecture=spec.architecture,
        encoder=spec.encoder or "",
        config=json.loads(document),
        weights=stored,
        weights_sha256=sha256,
        input_pixel_size_nm=getattr(model, "target_nm_per_px", None),
        metrics=json_safe(metrics),
        created_by=created_by,
        derived_from=derived_from,
    )


def json_safe(value):
    """``value`` with NaN and infinities (e.g. ROC AUC of a one-class fold) as None: valid JSON."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

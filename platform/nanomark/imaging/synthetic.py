"""Loading a data set written by :func:`simulation.dataset.write_dataset` into a lab.

Each image becomes a sample (code ``SIM-<id>-S<set>-A<area>``) with the
paper's Pd-decoration conditions, the image with its sidecar, an order label,
a 4-layer defect mask and a particle annotation (the particles drawn, with
their mask), all marked as simulation ground truth. Loading the same folder
again changes nothing.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
from django.db import transaction
from PIL import Image

from analysis.defects import DEFECT_CLASSES
from analysis.particlelabels import read_particle_csv
from nanomark.accounts.models import Lab
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.masks import store_defect_mask
from nanomark.imaging.models import OrderLabel
from nanomark.imaging.particleannotations import store_particle_annotation
from nanomark.imaging.services import ingest_sem_image
from nanomark.samples.choices import MaterialKind, SynthesisKind
from nanomark.samples.models import Material, Sample, Synthesis

MATERIALS = {
    "ordered": ("Simulated graphite, defect-rich", "Monte Carlo deposition on a defect map"),
    "disordered": ("Simulated graphite, smooth", "Monte Carlo deposition on a smooth surface"),
}
#: Pd decoration of Boiko et al. 2021 (Methods), recorded on every simulated sample.
PAPER_DECORATION = {
    "kind": SynthesisKind.PD_DECORATION,
    "precursor": "Pd2dba3·CHCl3",
    "precursor_mass_mg": 5.0,
    "support_mass_mg": 100.0,
    "solvent": "CHCl3",
    "solvent_volume_ml": 5.0,
    "temperature_c": 80.0,
    "duration_min": 3.0,
    "notes": "Simulated sample: the decoration protocol of Boiko et al., Chem. Sci. 2021.",
}


class DatasetInvalid(ValueError):
    """The folder is not a readable data set; the message says why."""


def read_manifest(folder: Path) -> dict:
    """The folder's ``manifest.json``, checked for the keys the loader needs."""
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetInvalid(
            f"{folder}: no manifest.json (write a data set with python -m simulation.dataset)"
        ) from None
    except json.JSONDecodeError as exc:
        raise DatasetInvalid(f"{path}: not valid JSON ({exc})") from None
    if list(manifest.get("defect_classes", [])) != list(DEFECT_CLASSES):
        raise DatasetInvalid(f"{path}: defect classes differ from {list(DEFECT_CLASSES)}")
    for item in manifest.get("items", []):
        missing = {"id", "image", "sidecar", "masks", "particles", "particle_mask", "class"}
        missing -= item.keys()
        if missing or item["class"] not in MATERIALS:
            raise DatasetInvalid(f"{path}: item {item.get('id')} is incomplete or has no class")
    return manifest


def load_synthetic_dataset(folder: Path, lab: Lab, user=None) -> Counter[str]:
    """Load every item of the data set in ``folder`` into ``lab``.

    Returns:
        Counts of ``images_created``, ``images_existing``, ``labels_created``,
        ``masks_created`` and ``particle_annotations_created``.

    Raises:
        DatasetInvalid: the manifest is missing or malformed.
        nanomark.imaging.services.ImageRejected: an image file is not acceptable.
    """
    manifest = read_manifest(folder)
    counts: Counter[str] = Counter()
    for item in manifest["items"]:
        sample = _sample(lab, item, user)
        outcome = ingest_sem_image(
            sample=sample,
            data=(folder / item["image"]).read_bytes(),
            filename=item["image"],
            sidecar=(folder / item["sidecar"]).read_bytes(),
            uploaded_by=user,
        )
        counts["images_created" if outcome.created else "images_existing"] += 1
        _, created = OrderLabel.objects.current().get_or_create(
            image=outcome.image,
            source=AnnotationSource.SIMULATION,
            annotator=None,
            defaults={"label": item["class"]},
        )
        counts["labels_created"] += created
        if not outcome.image.defect_masks.filter(source=AnnotationSource.SIMULATION).exists():
            store_defect_mask(
                outcome.image,
                _mask_layers(folder, item, manifest.get("databar_height_px", 0)),
                source=AnnotationSource.SIMULATION,
                note="Ground truth: the defect map the particles were deposited on.",
            )
            counts["masks_created"] += 1
        if not outcome.image.particle_annotations.filter(
            source=AnnotationSource.SIMULATION
        ).exists():
            store_particle_annotation(
                outcome.image,
                read_particle_csv(
                    (folder / item["particles"]).read_bytes(), name=item["particles"]
                ),
                mask=_frame_mask(folder / item["particle_mask"], outcome.image),
                source=AnnotationSource.SIMULATION,
                note="Ground truth: the particles the renderer drew.",
            )
            counts["particle_annotations_created"] += 1
    return counts


def _sample(lab: Lab, item: dict, user) -> Sample:
    name, description = MATERIALS[item["class"]]
    code = "SIM-" + "-".join(Path(item["image"]).stem.split("-")[:3])
    with transaction.atomic():
        material, _ = Material.objects.get_or_create(
            lab=lab,
            name=name,
            defaults={"kind": MaterialKind.GRAPHITE, "description": description},
        )
        sample, created = Sample.objects.get_or_create(
            lab=lab,
            code=code,
            defaults={
                "material": material,
                "created_by": user,
                "description": f"Synthetic SEM image {item['image']} ({item['class']}).",
            },
        )
        if created:
            Synthesis.objects.create(sample=sample, **PAPER_DECORATION)
    return sample


def _frame_mask(path: Path, image) -> np.ndarray:
    """(H, W) bool frame-sized particle mask from the field-sized PNG (the data bar is below)."""
    field = np.asarray(Image.open(path).convert("L")) > 127
    return np.pad(field, ((0, image.height_px - field.shape[0]), (0, 0)))


def _mask_layers(folder: Path, item: dict, databar_height_px: int) -> np.ndarray:
    """(4, H, W) layers; the data bar under the field, if any, holds no defects."""
    layers = np.stack(
        [
            np.asarray(Image.open(folder / item["masks"][name]).convert("L")) > 127
            for name in DEFECT_CLASSES
        ]
    )
    return np.pad(layers, ((0, 0), (0, databar_height_px), (0, 0)))

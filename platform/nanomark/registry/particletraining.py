"""Training a particle segmenter from a lab's particle annotations (a background run).

Each annotated image contributes its field (the data bar cut off) at its own
resolution, with its newest particle annotation (reviewed ones first) as the
truth: the mask drawn, or discs of the CSV's centres and diameters. The run
cross-validates (whole images held out when the lab has at least as many
annotated images as folds, otherwise one band of every image;
:func:`ml.particles.cross_validate_particle_segmenter`), trains the final
model on everything for its wall-clock budget, and stores a ModelVersion
that freezes the images and annotations it learnt from.

The folds train for ``fold_minutes`` each and the final model for
``minutes``: the defaults (2 × 1 + 7 minutes) fit the 10 minutes a lab
server with 2 CPU cores should need, and since the folds train for less
time than the final model, their F1 is a lower bound of the final model's.
"""

from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.db import transaction

from analysis.particlelabels import LabelledParticles
from ml.particles import (
    INPUT_MULTIPLE,
    ParticleCrossVal,
    ParticleTrainConfig,
    cross_validate_particle_segmenter,
    train_particle_segmenter,
)
from nanomark.imaging.models import ParticleAnnotation, SEMImage, latest_per_image
from nanomark.registry.models import ModelVersion, TrainingRun
from nanomark.registry.storing import store_model, version_name
from nanomark.registry.trainingtime import planned_time_problem

#: Options of a particle-segmenter training request, with their defaults.
PARTICLE_SETTINGS = {
    "folds": 2,
    "minutes": 7.0,
    "fold_minutes": 1.0,
    "crop_px": 96,
    "batch_size": 8,
    "seed": 0,
}


@dataclass(frozen=True)
class ParticleTrainingSet:
    """Fields of the lab's annotated images, their masks and particles, and the rows used.

    Attributes:
        images: (H, W) field pixels, one per image, in image-pk order.
        masks: (H, W) bool particle masks of the same fields.
        truths: particles of each field (centres in field px, diameters px).
        image_ids: the images, in the same order.
        annotation_ids: the annotation used for each image.
    """

    images: list[np.ndarray]
    masks: list[np.ndarray]
    truths: list[LabelledParticles]
    image_ids: list[int]
    annotation_ids: list[int]


def _annotations(lab) -> dict[int, ParticleAnnotation]:
    return latest_per_image(ParticleAnnotation.objects.filter(image__lab=lab))


def particle_request_problem(lab, options: dict) -> str:
    """Why a particle-segmenter request with ``options`` cannot be trained ("" when it can)."""
    folds, crop = options["folds"], options["crop_px"]
    if folds < 2:
        return "cross-validation needs at least 2 folds"
    planned = planned_time_problem(options["minutes"], options["fold_minutes"], folds)
    if planned:
        return planned
    if crop < INPUT_MULTIPLE or crop % INPUT_MULTIPLE:
        return f"crop_px must be a positive multiple of {INPUT_MULTIPLE}"
    if options["batch_size"] < 1:
        return "batch_size must be at least 1"
    annotations = _annotations(lab)
    if not annotations:
        return (
            "the lab has no particle annotations; upload a particle mask or CSV on an image's "
            "page or at /api/particle-annotations/"
        )
    if len(annotations) < folds:
        fields = SEMImage.objects.filter(pk__in=list(annotations)).values_list(
            "field_height_px", flat=True
        )
        if min(fields) < folds * INPUT_MULTIPLE:
            return (
                f"with {len(annotations)} annotated image(s), each of the {folds} folds holds out "
                f"a band of every image, and a field {min(fields)} px high cannot be cut into "
                f"{folds} bands of {INPUT_MULTIPLE} px; use fewer folds or annotate more images"
            )
    return ""


def particle_training_set(lab) -> ParticleTrainingSet:
    """The lab's annotated image fields with their masks and particles (ordered by image pk)."""
    annotations = _annotations(lab)
    image_ids = sorted(annotations)
    images = SEMImage.objects.in_bulk(image_ids)
    data = ParticleTrainingSet([], [], [], image_ids, [annotations[i].pk for i in image_ids])
    for image_id in image_ids:
        image, annotation = images[image_id], annotations[image_id]
        field = image.field_box
        data.images.append(field.crop(image.read_pixels()))
        data.masks.append(field.crop(annotation.load_mask()))
        # Pixel centres are at integers: the field's pixels span half a pixel further out.
        inside = annotation.load_particles().within(
            field.x_px - 0.5, field.y_px - 0.5, field.right_px - 0.5, field.bottom_px - 0.5
        )
        data.truths.append(inside.moved(-field.x_px, -field.y_px))
    return data


def train_particles(run: TrainingRun) -> ModelVersion:
    """Cross-validate, train the final particle segmenter and store it."""
    options = run.config
    data = particle_training_set(run.lab)
    config = ParticleTrainConfig(
        minutes=options["minutes"],
        crop_px=options["crop_px"],
        batch_size=options["batch_size"],
        seed=options["seed"],
        device=settings.NANOMARK_DEVICE,
        architecture=options["architecture"],
        encoder=options["encoder"],
    )
    cv = cross_validate_particle_segmenter(
        data.images,
        data.masks,
        k=options["folds"],
        config=replace(config, minutes=options["fold_minutes"]),
        truths=data.truths,
    )
    model, trained = train_particle_segmenter(data.images, data.masks, config)
    name = version_name(model.spec, run.pk)
    n_params = sum(parameter.numel() for parameter in model.parameters())
    with transaction.atomic():
        version = store_model(
            model,
            lab_id=run.lab_id,
            name=name,
            metadata={"training_run": run.pk, "epochs": len(trained.history)},
            metrics={
                "cross_validation": {
                    **cv.to_dict(),
                    "n_params": n_params,
                    "table": particle_table(name, cv, n_params),
                },
                "final_training_s": trained.wall_time_s,
            },
            created_by=run.created_by,
        )
        version.training_images.set(data.image_ids)
        version.training_particles.set(data.annotation_ids)
    return version


def particle_table(name: str, cv: ParticleCrossVal, n_params: int) -> str:
    """Markdown table of the folds' precision, recall, F1 and count error, then pooled F1."""

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    lines = [
        "| network | params | fold | precision | recall | F1 | count error |",
        "|---|---|---|---|---|---|---|",
    ]
    for fold, metrics in zip(cv.folds, cv.fold_metrics(), strict=True):
        values = [metrics[k] for k in ("precision", "recall", "f1", "count_error")]
        lines.append(
            f"| {name} | {n_params / 1e6:.1f} M | {fold.fold} | "
            + " | ".join(cell(v) for v in values)
            + " |"
        )
    lines.append(f"\nPooled over every held-out image: F1 {cv.pooled()['f1']:.3f}.")
    return "\n".join(lines)

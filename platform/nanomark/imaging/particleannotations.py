"""Storing hand-labelled particles of an image: from a particle mask or a CSV of centres.

Labs draw particles as a binary mask (GIMP, CVAT) or list them as centres
with diameters. A mask may cover the whole frame or the field only (the
image without its data bar) and is stored at the frame's size; its particles
are its connected blobs with touching ones split (:mod:`analysis.particlelabels`).
A CSV gives ``x_px,y_px,diameter_px`` (or ``diameter_nm`` on a calibrated
image) in frame pixels. Either way the annotation keeps a CSV of the
particles, which scoring reads.
"""

import uuid

import numpy as np
from django.db import transaction

from analysis.particlelabels import (
    LabelFileError,
    LabelledParticles,
    particles_from_mask,
    read_particle_csv,
    read_particle_mask,
    write_particle_csv,
)
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.masks import frame_layers, layer_png, mask_sizes
from nanomark.imaging.models import ParticleAnnotation, SEMImage
from nanomark.imaging.storage import delete_files, derived_path, save_file


class ParticleLabelsRejected(ValueError):
    """The labels cannot be read or do not fit the image; the message says why."""


def read_particle_upload(
    image: SEMImage, name: str, data: bytes
) -> tuple[np.ndarray | None, LabelledParticles]:
    """The frame-sized mask (None for a CSV) and the particles of an uploaded label file.

    A ``.csv`` file is read as centres and diameters, anything else as a mask
    of the frame's or the field's size.

    Raises:
        ParticleLabelsRejected: unreadable, the wrong size, or particles off the frame.
    """
    try:
        if name.lower().endswith(".csv"):
            particles = read_particle_csv(data, pixel_size_nm=image.pixel_size_nm, name=name)
            _check_inside(image, particles, name)
            return None, particles
        mask = read_particle_mask(data, name)
    except LabelFileError as error:
        raise ParticleLabelsRejected(str(error)) from None
    sizes = mask_sizes(image)
    if (mask.shape[1], mask.shape[0]) not in sizes:
        accepted = " or ".join(f"{w}x{h}" for w, h in dict.fromkeys(sizes))
        raise ParticleLabelsRejected(
            f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} px, expected {accepted} px"
        )
    frame = frame_layers(image, mask[None])[0]
    return frame, particles_from_mask(frame)


def store_particle_annotation(
    image: SEMImage,
    particles: LabelledParticles,
    *,
    mask: np.ndarray | None = None,
    source: str = AnnotationSource.HUMAN,
    annotator=None,
    note: str = "",
) -> ParticleAnnotation:
    """Store labelled particles of ``image`` (and the frame-sized mask they came from).

    Args:
        image: the annotated image.
        particles: centres (frame px) and diameters (px).
        mask: (H, W) bool frame-sized particle mask, or None.
        source: :class:`AnnotationSource` value.
        annotator: the user who labelled them, if any.
        note: free text.

    Raises:
        ParticleLabelsRejected: a particle lies off the frame or the mask is not frame-sized.
    """
    _check_inside(image, particles, "the labels")
    if mask is not None and mask.shape != (image.height_px, image.width_px):
        raise ParticleLabelsRejected(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} px, not the frame's "
            f"{image.width_px}x{image.height_px}"
        )
    key = uuid.uuid4().hex[:12]
    written: list[str] = []
    try:
        stem = derived_path("particle-labels", image.lab_id, image.sha256, f".{key}")
        files = {
            "particles": save_file(
                f"{stem}.csv", write_particle_csv(particles.xy, particles.diameters_px), written
            )
        }
        if mask is not None:
            files["mask"] = save_file(f"{stem}.png", layer_png(mask), written)
        with transaction.atomic():
            return ParticleAnnotation.objects.create(
                image=image,
                count=len(particles),
                source=source,
                annotator=annotator,
                note=note,
                **files,
            )
    except BaseException:
        delete_files(written)
        raise


def _check_inside(image: SEMImage, particles: LabelledParticles, name: str) -> None:
    xy = particles.xy
    outside = (xy[:, 0] < -0.5) | (xy[:, 0] > image.width_px - 0.5)
    outside |= (xy[:, 1] < -0.5) | (xy[:, 1] > image.height_px - 0.5)
    if outside.any():
        x, y = xy[np.flatnonzero(outside)[0]]
        raise ParticleLabelsRejected(
            f"{name}: {int(outside.sum())} particle(s) lie off the "
            f"{image.width_px}x{image.height_px} px frame, e.g. at ({x:g}, {y:g})"
        )

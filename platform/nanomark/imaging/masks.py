"""Storing 4-layer defect masks as PNG layers beside their image."""

import uuid

import numpy as np
from django.db import transaction

from analysis.defects import DEFECT_CLASSES
from analysis.preview import encode_png
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.models import DefectMask, SEMImage
from nanomark.imaging.storage import delete_files, derived_path, save_file


class MaskRejected(ValueError):
    """The layers do not fit the image; the message says why."""


def layer_png(layer: np.ndarray) -> bytes:
    """Encode a (H, W) bool layer as an 8-bit PNG (0 background, 255 defect)."""
    return encode_png(np.where(layer, 255, 0).astype(np.uint8))


def store_defect_mask(
    image: SEMImage,
    layers: np.ndarray,
    *,
    source: str = AnnotationSource.HUMAN,
    annotator=None,
    note: str = "",
) -> DefectMask:
    """Store a defect mask for ``image``.

    Args:
        image: the annotated image.
        layers: (4, H, W) array, truthy where a defect is, channels in
            :data:`analysis.defects.DEFECT_CLASSES` order; H, W equal the image's size.
        source: :class:`AnnotationSource` value.
        annotator: the user who drew it, if any.
        note: free text.

    Raises:
        MaskRejected: wrong layer count or size; nothing was stored.
    """
    expected = (len(DEFECT_CLASSES), image.height_px, image.width_px)
    if layers.shape != expected:
        raise MaskRejected(
            f"mask has shape {layers.shape}, expected {expected} "
            f"({len(DEFECT_CLASSES)} layers of {image.width_px}x{image.height_px} px)"
        )
    key = uuid.uuid4().hex[:12]
    written: list[str] = []
    try:
        files = {
            name: save_file(
                derived_path("masks", image.lab_id, image.sha256, f".{key}.{name}.png"),
                layer_png(np.asarray(layer, dtype=bool)),
                written,
            )
            for name, layer in zip(DEFECT_CLASSES, layers, strict=True)
        }
        with transaction.atomic():
            return DefectMask.objects.create(
                image=image, source=source, annotator=annotator, note=note, **files
            )
    except BaseException:
        delete_files(written)
        raise

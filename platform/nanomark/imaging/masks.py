"""Storing 4-layer defect masks as PNG layers beside their image.

A mask may be drawn over the whole frame or over the field only (the image
without its data bar); it is stored at the frame's size with nothing outside
the field, so every reader gets frame-sized layers.
"""

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


def mask_sizes(image: SEMImage) -> list[tuple[int, int]]:
    """Accepted (width, height) of a mask of ``image``: the frame's, then the field's."""
    box = image.field_box
    return [(image.width_px, image.height_px), (box.width_px, box.height_px)]


def frame_layers(image: SEMImage, layers: np.ndarray) -> np.ndarray:
    """(4, H, W) frame-sized bool layers from frame- or field-sized ones, empty off the field."""
    frame = np.zeros((layers.shape[0], image.height_px, image.width_px), bool)
    box = image.field_box
    inside = layers if layers.shape[1:] == (box.height_px, box.width_px) else box.crop(layers)
    box.crop(frame)[...] = inside
    return frame


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
            :data:`analysis.defects.DEFECT_CLASSES` order; H, W are the frame's
            size or the field's (:func:`mask_sizes`).
        source: :class:`AnnotationSource` value.
        annotator: the user who drew it, if any.
        note: free text.

    Raises:
        MaskRejected: wrong layer count or size; nothing was stored.
    """
    accepted = [(len(DEFECT_CLASSES), height, width) for width, height in mask_sizes(image)]
    if layers.shape not in accepted:
        sizes = " or ".join(f"{w}x{h}" for w, h in dict.fromkeys(mask_sizes(image)))
        raise MaskRejected(
            f"mask has shape {layers.shape}, expected {len(DEFECT_CLASSES)} layers of {sizes} px"
        )
    layers = frame_layers(image, np.asarray(layers, dtype=bool))
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

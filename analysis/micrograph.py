"""Telling SEM micrographs from the other images a data folder holds.

Folders that labs and :mod:`simulation.dataset` write hold mask layers
(``*.mask.<class>.png``), label images and exported drawings beside the
micrographs. An SEM detector image has hundreds of grey levels (noise alone
gives dozens), so an image with two or fewer is a mask or a drawing, not a
micrograph; names marking masks or labels are recognised before any pixel
is read.
"""

import re

import numpy as np

#: File names of mask and label layers: ``x.mask.png``, ``x.mask.sheet_border.png``,
#: ``x_mask.tif``, ``x-labels.png``.
MASK_NAME = re.compile(r"(^|[._-])(mask|masks|label|labels)([._-]|$)", re.IGNORECASE)
#: Most grey levels an image may have and still be a mask (0/255, or 0/1).
MAX_MASK_LEVELS = 2


def name_problem(filename: str) -> str | None:
    """Why ``filename`` names a mask or label layer rather than a micrograph, or None."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    if MASK_NAME.search(stem):
        return f"{filename}: the name marks a mask or label layer, not a micrograph."
    return None


def content_problem(pixels: np.ndarray) -> str | None:
    """Why (H, W) ``pixels`` are not a micrograph (two grey levels or fewer), or None.

    Reads a strided sample of at most ~65k pixels first, so that a real
    micrograph is accepted without scanning every pixel.
    """
    step = max(1, int(np.sqrt(pixels.size / 65536)))
    if np.unique(pixels[::step, ::step]).size > MAX_MASK_LEVELS:
        return None
    levels = np.unique(pixels).size
    if levels > MAX_MASK_LEVELS:
        return None
    return (
        f"the image has {levels} grey level{'s' if levels != 1 else ''}: it is a mask, a "
        "drawing or blank, not an SEM micrograph."
    )

"""Reading uploaded defect masks: one 4-page TIFF (a page per class) or one file per class.

GIMP exports an image's layers as the pages of one TIFF; a layer exported
alone is a PNG or TIFF. Pages and files are taken in
:data:`analysis.defects.DEFECT_CLASSES` order. A pixel marks a defect where
its brightest colour channel is above half of full scale and, if the layer
has an alpha channel, it is more than half opaque: white or coloured strokes
on black or on a transparent layer both read as defects.

Every layer must have one of the sizes the caller accepts (the whole frame,
or the field above the instrument's data bar), checked from the header
before the pixels are decoded, so a file cannot make the decoder allocate
more than the image's own size. The platform stores the layers re-encoded as PNG, never as uploaded.
"""

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from analysis.defects import DEFECT_CLASSES

_FORMATS = ("PNG", "TIFF")
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L")


class MaskFileError(ValueError):
    """A mask file cannot be read as defect layers of the image; the message says why."""


def read_mask_layers(
    files: Sequence[tuple[str, bytes]], sizes: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Decode uploaded mask files into defect layers of one of the accepted sizes.

    Args:
        files: (file name, bytes) pairs: one file with four pages, or four
            one-page files, in :data:`DEFECT_CLASSES` order.
        sizes: accepted (width, height) pairs in px, e.g. the frame's and the field's.

    Returns:
        (4, height, width) bool array, True where a defect is; every layer has the same size.

    Raises:
        MaskFileError: not PNG or TIFF, unreadable, the wrong number of
            pages or files, a layer of a size not accepted, or layers of different sizes.
    """
    expected = len(DEFECT_CLASSES)
    if len(files) not in (1, expected):
        raise MaskFileError(
            f"give one file with {expected} pages or {expected} files, got {len(files)} files"
        )
    layers = []
    for name, data in files:
        layers.extend(_file_layers(name, data, sizes))
    if len({layer.shape for layer in layers}) > 1:
        raise MaskFileError("the layers have different sizes; give all four at one size")
    if len(layers) != expected:
        raise MaskFileError(
            f"{files[0][0]}: has {len(layers)} pages; a mask needs {expected} "
            f"({', '.join(DEFECT_CLASSES)})"
            if len(files) == 1
            else f"each layer file must have one page, got {len(layers)} pages in all"
        )
    return np.stack(layers)


def _file_layers(name: str, data: bytes, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    try:
        image = Image.open(io.BytesIO(data), formats=_FORMATS)
        pages = getattr(image, "n_frames", 1)
        if pages > len(DEFECT_CLASSES):
            raise MaskFileError(f"{name}: has {pages} pages; a mask needs {len(DEFECT_CLASSES)}")
        layers = []
        for page in range(pages):
            image.seek(page)
            if image.size not in sizes:
                expected = " or ".join(f"{w}x{h}" for w, h in dict.fromkeys(sizes))
                raise MaskFileError(
                    f"{name}: page {page + 1} is {image.size[0]}x{image.size[1]} px; "
                    f"a mask of this image is {expected} px"
                )
            layers.append(_defects(image, name))
        return layers
    except MaskFileError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise MaskFileError(f"{name}: not a readable PNG or TIFF mask ({error})") from None


def _defects(page: Image.Image, name: str) -> np.ndarray:
    """(H, W) bool: brightest colour channel above half scale, and more than half opaque."""
    if page.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(page) > 32767
    if page.mode == "F":
        raise MaskFileError(f"{name}: floating-point layers are not masks; export 8-bit layers")
    rgba = np.asarray(page.convert("RGBA"))
    return (rgba[..., :3].max(axis=-1) > 127) & (rgba[..., 3] > 127)

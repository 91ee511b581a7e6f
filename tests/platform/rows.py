"""Database rows built directly for tests that need the row and not its files."""

import hashlib

from nanomark.imaging.models import SEMImage

_IMAGE_DEFAULTS = {
    "format": "png",
    "size_bytes": 1,
    "width_px": 128,
    "height_px": 96,
    "bit_depth": 8,
    "channels": 1,
}


def image_row(sample, name: str = "a.png", **fields) -> SEMImage:
    """An SEMImage row of ``sample`` called ``name``, without files; ``fields`` override.

    Its SHA-256 is made from the sample and the name, so rows differ per sample and name.
    """
    sha256 = hashlib.sha256(f"{sample.pk}/{name}".encode()).hexdigest()
    return SEMImage.objects.create(
        **{
            "lab": sample.lab,
            "sample": sample,
            "original_filename": name,
            "sha256": sha256,
            **_IMAGE_DEFAULTS,
            **fields,
        }
    )

"""Builders of SEM files for tests: small images, TIFF bytes, Hitachi sidecars."""

import io

import numpy as np
import tifffile

from analysis.hitachi import format_hitachi_text


def sem_pixels(height: int = 96, width: int = 128, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A small noisy grayscale image with bright dots, like a tiny SEM micrograph."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    image = rng.normal(0.3 * top, 0.05 * top, (height, width))
    for y, x in rng.integers(2, [height - 2, width - 2], size=(20, 2)):
        image[y - 1 : y + 2, x - 1 : x + 2] = 0.9 * top
    return np.clip(image, 0, top).astype(dtype)


def tiff_bytes(pixels: np.ndarray, **kwargs) -> bytes:
    """Encode ``pixels`` as a single-page TIFF."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **kwargs)
    return buffer.getvalue()


def pages_tiff(pages: list[np.ndarray], **kwargs) -> bytes:
    """Encode ``pages`` as the pages of one TIFF, as GIMP exports an image's layers."""
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for page in pages:
            writer.write(page, **kwargs)
    return buffer.getvalue()


def mask_layers(seed: int = 0, height: int = 96, width: int = 128) -> np.ndarray:
    """(4, height, width) bool defect layers in DEFECT_CLASSES order, 5, 10, 20, 30 % set."""
    rng = np.random.default_rng(seed)
    return rng.random((4, height, width)) < np.array([0.05, 0.1, 0.2, 0.3])[:, None, None]


def hitachi_sidecar(pixel_size_nm: float = 0.99, **extra) -> bytes:
    """A Hitachi SU8000 sidecar as the instrument writes it."""
    values = {
        "InstructName": "SU8000",
        "Date": "03/15/2019",
        "Time": "14:22:10",
        "DataSize": "128x96",
        "PixelSize": pixel_size_nm,
        "SignalName": "SE(U)",
        "AcceleratingVoltage": "10000 Volt",
        "Magnification": 50000,
        "WorkingDistance": "8100 um",
        **extra,
    }
    return format_hitachi_text(values).encode("ascii")


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode ``pixels`` as a PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def bad_files() -> dict[str, bytes]:
    """Inputs that ingest must reject, by the kind of badness."""
    good_tiff = tiff_bytes(sem_pixels())
    good_png = png_bytes(sem_pixels())
    pages = io.BytesIO()
    with tifffile.TiffWriter(pages) as writer:
        writer.write(sem_pixels(seed=1))
        writer.write(sem_pixels(seed=2))
    return {
        "zero_bytes": b"",
        "plain_text": b"PixelSize=1.0\nthis is not an image\n" * 10,
        "html": b"<!doctype html><html><script>alert(1)</script></html>",
        "truncated_tiff": good_tiff[: len(good_tiff) // 2],
        "truncated_png": good_png[: len(good_png) // 2],
        "png_with_zip_appended": good_png + b"PK\x03\x04" + bytes(64),
        "multi_page_tiff": pages.getvalue(),
        "float_tiff": tiff_bytes(sem_pixels().astype(np.float32)),
        "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "garbage_after_magic": b"II*\x00" + bytes(range(256)) * 4,
    }

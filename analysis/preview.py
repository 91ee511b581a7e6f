"""Browser-ready previews of SEM images: 8-bit PNGs at a bounded size.

A 16-bit SEM frame often uses a few hundred grey levels out of 65,536, so a
plain shift to 8 bit shows a black rectangle. 16-bit (and float) images are
stretched between two percentiles; 8-bit images are shown as the operator
saved them, since their contrast was already set at the instrument.
:func:`preview_box` maps a patch of the original onto its preview (to cut
patch thumbnails from the preview).
"""

import cv2
import numpy as np

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
_PERCENTILE_SAMPLE = 1 << 20  # pixels; percentiles of a strided sample are as good and far cheaper
_RESIZABLE = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def display_uint8(
    pixels: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE
) -> np.ndarray:
    """Map an image to 8-bit grey levels for display.

    Args:
        pixels: (H, W) greyscale; uint8 is returned as is (a copy), other
            numeric dtypes are stretched linearly so that the ``low`` and
            ``high`` percentiles map to 0 and 255 (values outside are clipped).
        low: lower percentile, 0-100.
        high: upper percentile, 0-100, above ``low``.

    Returns:
        (H, W) uint8. A constant image maps to its level relative to the
        dtype's range (integers) or to 0 (floats).

    Example:
        >>> display_uint8(np.array([[1000, 1100], [1200, 1300]], np.uint16)).tolist()
        [[0, 85], [170, 255]]
    """
    if pixels.ndim != 2:
        raise ValueError(f"expected a (H, W) greyscale image, got shape {pixels.shape}")
    if pixels.dtype == np.uint8:
        return pixels.copy()
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    step = max(1, int(np.sqrt(pixels.size / _PERCENTILE_SAMPLE)))
    sample = pixels[::step, ::step].astype(np.float64)
    finite = sample[np.isfinite(sample)]
    lo, hi = np.percentile(finite, (low, high)) if finite.size else (0.0, 0.0)
    if hi <= lo:
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    if hi <= lo:
        return _constant(pixels, lo)
    scaled = (pixels.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.rint(np.clip(np.nan_to_num(scaled), 0, 255)).astype(np.uint8)


def preview_png(pixels: np.ndarray, max_side: int = 1280) -> bytes:
    """PNG preview: the image shrunk (never enlarged) so its longer side is at most ``max_side``.

    Args:
        pixels: (H, W) greyscale, any numeric dtype (see :func:`display_uint8`).
        max_side: longest side of the preview in pixels.

    Returns:
        PNG bytes of an 8-bit greyscale image, aspect ratio kept.
    """
    return encode_png(display_uint8(_shrink(pixels, max_side)))


def thumbnail_png(pixels: np.ndarray, max_side: int = 256) -> bytes:
    """PNG thumbnail, like :func:`preview_png` with a 256-pixel default longest side."""
    return encode_png(display_uint8(_shrink(pixels, max_side)))


def _shrink(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink with area averaging (no aliasing of particle-sized detail) to fit ``max_side``."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    if pixels.ndim != 2:
        raise ValueError(f"expected a (H, W) greyscale image, got shape {pixels.shape}")
    height, width = pixels.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if pixels.dtype not in _RESIZABLE:
        pixels = pixels.astype(np.float32)
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _constant(pixels: np.ndarray, level: float) -> np.ndarray:
    # An unsigned constant keeps its brightness; a float constant has no scale to keep.
    level = level * 255.0 / np.iinfo(pixels.dtype).max if pixels.dtype.kind == "u" else 0.0
    return np.full(pixels.shape, round(level), np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """Encode a (H, W) uint8 or uint16 image as PNG bytes, losslessly and unchanged."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def preview_box(
    x_px: int, y_px: int, size_px: int, image_size: tuple[int, int], preview_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A square patch of the original image as a box of its preview (at least 1 px wide).

    Args:
        x_px, y_px, size_px: the patch's left and top edges and side, original pixels.
        image_size: (width, height) of the original, px.
        preview_size: (width, height) of the preview, px (at most 1280 on the long side).

    Returns:
        (left, top, right, bottom) preview pixels, right and bottom exclusive, inside the preview.
    """
    (width, height), (preview_width, preview_height) = image_size, preview_size
    if min(width, height, preview_width, preview_height) <= 0:
        raise ValueError(f"sizes must be positive, got {image_size} and {preview_size}")
    scale_x, scale_y = preview_width / width, preview_height / height
    left = min(int(x_px * scale_x), preview_width - 1)
    top = min(int(y_px * scale_y), preview_height - 1)
    right = min(max(round((x_px + size_px) * scale_x), left + 1), preview_width)
    bottom = min(max(round((y_px + size_px) * scale_y), top + 1), preview_height)
    return left, top, right, bottom

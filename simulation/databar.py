"""Hitachi-style SEM data bar and the SU-series magnification scale.

Hitachi SU8000 images are 1280 x 960 px: the 1280 x 890 field and, below
it, a 70 px black bar with the instrument, voltage, working distance,
magnification and detector in white, and a ten-division scale bar. Hitachi
states magnification for a 127 mm wide display (a 4 x 5 inch print), so the
pixel size of a 1280 px wide image at x100k is 127 mm / 100,000 / 1280 ≈
0.99 nm.
"""

import cv2
import numpy as np

#: Display width that Hitachi magnifications refer to, nm (127 mm).
DISPLAY_WIDTH_NM = 127e6
#: Height of the data bar under a 1280 px wide field, px.
DATABAR_HEIGHT_PX = 70

_NICE_STEPS = (1.0, 2.0, 5.0)


def pixel_size_for_magnification(magnification: float, width_px: int = 1280) -> float:
    """Pixel size in nm/px of a ``width_px`` wide image at ``magnification``."""
    if magnification <= 0 or width_px <= 0:
        raise ValueError("magnification and width_px must be positive")
    return DISPLAY_WIDTH_NM / (magnification * width_px)


def magnification_for_pixel_size(pixel_size_nm: float, width_px: int = 1280) -> float:
    """Inverse of :func:`pixel_size_for_magnification`."""
    if pixel_size_nm <= 0 or width_px <= 0:
        raise ValueError("pixel_size_nm and width_px must be positive")
    return DISPLAY_WIDTH_NM / (pixel_size_nm * width_px)


def scale_bar_length_nm(pixel_size_nm: float, width_px: int = 1280) -> float:
    """Longest 1-2-5 x 10^k length in nm that spans at most a third of the field."""
    limit = pixel_size_nm * width_px / 3.0
    exponent = int(np.floor(np.log10(limit)))
    candidates = [m * 10.0**e for e in (exponent - 1, exponent) for m in _NICE_STEPS]
    return max(c for c in candidates if c <= limit)


def format_length(length_nm: float) -> str:
    """Hitachi's spelling of a scale-bar length: ``500nm``, ``1.00um``, ``2.00um``."""
    if length_nm >= 1000.0:
        return f"{length_nm / 1000.0:.2f}um"
    return f"{length_nm:.0f}nm"


def draw_databar(
    image: np.ndarray,
    pixel_size_nm: float,
    magnification: float,
    *,
    accelerating_voltage_kv: float = 10.0,
    working_distance_mm: float = 8.1,
    signal: str = "SE(U)",
    instrument: str = "SU8000",
    height_px: int = DATABAR_HEIGHT_PX,
) -> np.ndarray:
    """Append a Hitachi-style data bar under ``image``.

    Args:
        image: (H, W) uint8 or uint16 grayscale field.
        pixel_size_nm: nm per pixel of the field (sets the scale bar).
        magnification: shown as ``x100k``.
        accelerating_voltage_kv: shown as ``10.0kV``.
        working_distance_mm: shown as ``8.1mm``.
        signal: detector name, e.g. ``SE(U)``.
        instrument: instrument name, e.g. ``SU8000``.
        height_px: bar height, px.

    Returns:
        (H + height_px, W) array of the dtype of ``image``; the field is unchanged.
    """
    if image.ndim != 2:
        raise ValueError("image must be (H, W) grayscale")
    width = image.shape[1]
    white = int(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
    bar = np.zeros((height_px, width), image.dtype)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, height_px / 90.0, max(1, height_px // 40)
    baseline = int(height_px * 0.65)
    text = (
        f"{instrument} {accelerating_voltage_kv:.1f}kV {working_distance_mm:.1f}mm "
        f"x{_format_magnification(magnification)} {signal}"
    )
    cv2.putText(bar, text, (int(0.012 * width), baseline), font, scale, white, thick, cv2.LINE_AA)

    length_nm = scale_bar_length_nm(pixel_size_nm, width)
    length_px = round(length_nm / pixel_size_nm)
    right = width - int(0.02 * width)
    left = right - length_px
    y = int(height_px * 0.7)
    cv2.line(bar, (left, y), (right, y), white, thick)
    tick = max(3, height_px // 10)
    for x in np.linspace(left, right, 11).round().astype(int):
        cv2.line(bar, (int(x), y - tick), (int(x), y), white, thick)
    label = format_length(length_nm)
    (label_width, _), _ = cv2.getTextSize(label, font, scale, thick)
    label_x = left + (length_px - label_width) // 2
    cv2.putText(bar, label, (label_x, int(height_px * 0.4)), font, scale, white, thick, cv2.LINE_AA)
    return np.vstack([image, bar])


def _format_magnification(magnification: float) -> str:
    if magnification >= 1000:
        thousands = magnification / 1000.0
        return f"{thousands:.0f}k" if thousands >= 10 else f"{thousands:.1f}k"
    return f"{magnification:.0f}"

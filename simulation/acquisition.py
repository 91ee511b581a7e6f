"""Faults of an SEM acquisition: charging streaks, scan-line jitter and bit depth.

The scan of a secondary-electron image runs row by row, left to right, so
what goes wrong during it shows along the rows: a charging sample deflects
the beam and the signal, and the rows scanned then carry a bright (or dark)
streak that fades along the scan (:func:`charging_streaks`); interference
shifts whole scan lines sideways, smoothly from one line to the next
(:func:`scan_jitter`, which moves the particles' truth with their lines).
Detectors digitise to 8, 12 or 16 bits; Hitachi stores 12-bit images in
16-bit files with values 0-4095 (:func:`to_bit_depth`).

Coordinates as in :mod:`simulation.render`: x = column, y = row, pixel
centres at integers. Brightness values are fractions of full scale.
"""

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

#: Bit depths an SEM image may be digitised to.
BIT_DEPTHS = (8, 12, 16)
# Interference shifts change over this many scan lines (Gaussian sigma), so a
# particle a few rows tall moves as a whole.
_JITTER_CORRELATION_ROWS = 8.0


def charging_streaks(
    shape: tuple[int, int], amplitude: float, rng: np.random.Generator
) -> np.ndarray:
    """(H, W) float32 brightness of the charging streaks over one scan, to add to an image.

    One to six bands of 2 px to 4 % of the height, each starting at a random
    column and fading along the row with a decay length of 10-100 % of the
    width; three in four are bright, the others dark.

    Args:
        shape: (H, W) of the image, px.
        amplitude: peak brightness of the strongest streak, fraction of full scale (>= 0).
        rng: random generator of the bands.
    """
    height, width = shape
    streaks = np.zeros(shape, np.float32)
    columns = np.arange(width, dtype=np.float32)
    for _ in range(1 + min(int(rng.poisson(2.0)), 5)):
        rows = int(rng.integers(2, max(3, round(0.04 * height)) + 1))
        top = int(rng.integers(0, max(1, height - rows + 1)))
        start = rng.uniform(0.0, width)
        decay_px = rng.uniform(0.1, 1.0) * width
        sign = 1.0 if rng.random() < 0.75 else -1.0
        fade = np.exp(-np.maximum(columns - start, 0.0) / decay_px) * (columns >= start)
        streaks[top : top + rows] += np.float32(sign * amplitude * rng.uniform(0.4, 1.0)) * fade
    return streaks


def scan_jitter(
    image: np.ndarray, positions_px: np.ndarray, std_px: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shift each scan line sideways, and the particle centres with the line through them.

    Shifts vary smoothly from line to line (correlated over about 8 rows),
    so a particle keeps its shape and moves by the shift of its centre row.

    Args:
        image: (H, W) float32 image.
        positions_px: (N, 2) particle centres x, y, px.
        std_px: standard deviation of the shifts, px (> 0).
        rng: random generator of the shifts.

    Returns:
        (jittered, positions): the (H, W) float32 image and the (N, 2) float64
        centres where the particles now are.
    """
    height, width = image.shape
    shifts = gaussian_filter1d(rng.standard_normal(height), _JITTER_CORRELATION_ROWS)
    shifts *= std_px / max(float(shifts.std()), 1e-12)
    grid_x = np.arange(width, dtype=np.float32)[None, :] + shifts[:, None].astype(np.float32)
    grid_y = np.repeat(np.arange(height, dtype=np.float32)[:, None], width, axis=1)
    jittered = cv2.remap(image, grid_x, grid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # A line showing its source shifted by s draws what lies at x + s at x.
    positions = np.array(positions_px, np.float64).reshape(-1, 2)
    rows = np.clip(np.round(positions[:, 1]).astype(np.int64), 0, height - 1)
    positions[:, 0] -= shifts[rows]
    return jittered, positions


def to_bit_depth(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """An unsigned integer image cut to its top ``bit_depth`` bits, as stored by the detector.

    Args:
        image: (H, W) uint8 or uint16 image using its dtype's full scale.
        bit_depth: significant bits, at most the dtype's (12 in uint16: 0-4095).

    Returns:
        (H, W) image of the same dtype with values 0 to 2 ** bit_depth - 1.
    """
    bits = np.iinfo(image.dtype).bits
    if not 1 <= bit_depth <= bits:
        raise ValueError(f"bit_depth must be 1-{bits} for {image.dtype}, got {bit_depth}")
    return image >> (bits - bit_depth)

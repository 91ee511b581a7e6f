"""The imaging model of :mod:`simulation.evalscenes`: support, particles, microscope, pixels.

Written apart from :mod:`simulation.render` by design (see :mod:`simulation.evalscenes`),
for evaluation scenes only. Signal units: the carbon support lies at about 0.1-0.5 and a
particle adds 0.4-1; :func:`microscope` turns the ideal signal into detector counts
(probe blur with a halo, charging tails and streaks, per-line scan offsets and jitter,
Poisson-Gaussian noise) and :func:`to_pixels` into an 8- or 16-bit image with the
contrast set from the support.
"""

import cv2
import numpy as np
from scipy.signal import lfilter

# Supersampling of particle discs per pixel side, for sub-pixel particles.
_SUPERSAMPLE = 4


def support_image(
    shape: tuple[int, int],
    pixel_size_nm: float,
    flakes: list[np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """(H, W) float32 carbon support in signal units (particles add 0.4-1).

    One draw u in [0, 1] sets how dark and smooth (0) or bright and textured (1)
    the support is: level 0.1-0.5, band-pass texture at 20 and 150 nm, a
    linear gradient; flakes add a faint step (+0.01-0.06) and a bright rim
    about 2 nm wide; 0-3 wrinkles add faint curved lines.
    """
    height, width = shape
    u = rng.random()
    support = np.full(shape, 0.1 + 0.4 * u, np.float32)
    for scale_nm in (20.0, 150.0):
        texture = smooth_noise(shape, scale_nm / pixel_size_nm, rng)
        support += (0.005 + 0.06 * u) * rng.uniform(0.5, 1.5) * texture
    ramp = rng.normal(0.0, 0.05, 2)
    support += (
        ramp[0] * np.linspace(-1, 1, width)[None, :] + ramp[1] * np.linspace(-1, 1, height)[:, None]
    ).astype(np.float32)

    rim_px = max(round(2.0 / pixel_size_nm), 1)
    for outline in flakes:
        points = [np.round(outline * 16).astype(np.int32)]
        inside, rim = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        cv2.fillPoly(inside, points, 1.0, cv2.LINE_AA, shift=4)
        cv2.polylines(rim, points, True, 1.0, rim_px, cv2.LINE_AA, shift=4)
        support += rng.uniform(0.01, 0.06) * cv2.GaussianBlur(inside, (0, 0), 2.0)
        support += rng.uniform(0.02, 0.1) * cv2.GaussianBlur(rim, (0, 0), 1.0)
    for _ in range(int(rng.integers(0, 4))):
        walk = np.cumsum(rng.normal(0.0, 1.0, (200, 2)) * 0.02 * max(shape), axis=0)
        walk += rng.uniform([0, 0], [width, height])
        line = np.zeros(shape, np.float32)
        cv2.polylines(
            line,
            [np.round(walk * 16).astype(np.int32)],
            False,
            1.0,
            rim_px * 2,
            cv2.LINE_AA,
            shift=4,
        )
        support += rng.normal(0.0, 0.03) * cv2.GaussianBlur(line, (0, 0), 2.0)
    return support


def smooth_noise(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 Gaussian-smoothed white noise, zero mean and unit standard deviation.

    Smoothed on a grid coarsened to about sigma / 4 per cell and resized
    back, which looks the same and costs little at sigma of hundreds of px.
    """
    factor = max(sigma_px / 4.0, 1.0)
    coarse = (max(round(shape[0] / factor), 1), max(round(shape[1] / factor), 1))
    noise = rng.standard_normal(coarse).astype(np.float32)
    smooth = cv2.resize(
        cv2.GaussianBlur(noise, (0, 0), sigma_px * coarse[1] / shape[1]),
        shape[::-1],
        interpolation=cv2.INTER_CUBIC,
    )
    smooth -= smooth.mean()
    return smooth / max(float(smooth.std()), 1e-6)


def particle_image(
    shape: tuple[int, int],
    positions_px: np.ndarray,
    diameters_px: np.ndarray,
    amplitude: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(H, W) float32 brightness the particles add: edge-bright discs.

    Secondary-electron yield grows as 1 / cos of the surface tilt, so a sphere
    of radius R shows 1 / sqrt(1 - (r / R)²) at distance r from its centre,
    capped at 1.3-2.5 times the centre; ``amplitude`` (signal units) at the
    centre, ±15 % per particle; supersampled 4 × 4 per pixel so that sub-pixel
    particles keep their area. Where particles touch, the brighter one shows
    (the nearer surface hides the other), so chains are no brighter per
    particle than scatter.
    """
    height, width = shape
    out = np.zeros(shape, np.float32)
    cap = rng.uniform(1.3, 2.5)
    amplitudes = amplitude * np.exp(0.15 * rng.standard_normal(diameters_px.size))
    sub = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - 0.5
    for (x, y), d, peak in zip(positions_px, diameters_px, amplitudes, strict=True):
        radius = 0.5 * d
        left, top = max(int(np.floor(x - radius)), 0), max(int(np.floor(y - radius)), 0)
        right = min(int(np.ceil(x + radius)), width - 1)
        bottom = min(int(np.ceil(y + radius)), height - 1)
        cols = (np.arange(left, right + 1)[:, None] + sub).ravel() - x
        rows = (np.arange(top, bottom + 1)[:, None] + sub).ravel() - y
        rho2 = (rows[:, None] ** 2 + cols[None, :] ** 2) / radius**2
        tilt = np.minimum(1.0 / np.sqrt(np.maximum(1.0 - rho2, 1e-6)), cap)
        value = np.where(rho2 < 1.0, tilt, 0.0)
        blocks = value.reshape(bottom - top + 1, _SUPERSAMPLE, right - left + 1, _SUPERSAMPLE)
        window = out[top : bottom + 1, left : right + 1]
        np.maximum(window, peak * blocks.mean((1, 3)), out=window)
    return out


def microscope(ideal: np.ndarray, pixel_size_nm: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 detector signal of an (H, W) ``ideal`` scene, rows scanned left to right.

    Probe: a Gaussian of sigma 0.5-1.5 nm (2-4 × wider when defocused, one in
    five) plus a 5-20 % halo four times wider. Charging: bright excess leaves an
    exponential tail along the scan (3-30 px), and 0-3 bands of lines carry a
    decaying offset (streaks). Scan: each line is shifted by a correlated
    jitter (0-0.4 px) and offset in brightness (0-2 %). Noise: Poisson at
    30-300 electrons per signal unit plus Gaussian read noise.
    """
    height, width = ideal.shape
    sigma_px = rng.uniform(0.5, 1.5) * (rng.uniform(2.0, 4.0) if rng.random() < 0.2 else 1.0)
    sigma_px /= pixel_size_nm
    halo = rng.uniform(0.05, 0.2)
    signal = (1 - halo) * cv2.GaussianBlur(ideal, (0, 0), sigma_px) + halo * cv2.GaussianBlur(
        ideal, (0, 0), 4 * sigma_px
    )

    decay = np.exp(-1.0 / rng.uniform(3.0, 30.0))
    excess = np.maximum(signal - np.median(signal), 0.0)
    signal += rng.uniform(0.0, 0.4) * lfilter([1 - decay], [1, -decay], excess, axis=1).astype(
        np.float32
    )
    x = np.arange(width)
    for _ in range(int(rng.integers(0, 4))):
        top = int(rng.integers(0, height))
        rows = slice(top, top + int(rng.integers(1, max(height // 50, 2) + 1)))
        start, length = rng.uniform(0, width), rng.uniform(0.05, 0.5) * width
        tail = np.where(x >= start, np.exp(-(x - start) / length), 0.0)
        signal[rows] += (rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.1) * tail).astype(np.float32)

    jitter = lfilter([1.0], [1.0, -0.7], rng.normal(0.0, rng.uniform(0.0, 0.4), height))
    map_x = (x[None, :] + jitter[:, None]).astype(np.float32)
    map_y = np.repeat(np.arange(height, dtype=np.float32)[:, None], width, axis=1)
    signal = cv2.remap(signal, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    signal += rng.normal(0.0, rng.uniform(0.0, 0.02), (height, 1)).astype(np.float32)

    dose = rng.uniform(30.0, 300.0)
    counts = rng.poisson(np.maximum(signal, 0.0) * dose) / dose
    return (counts + rng.normal(0.0, rng.uniform(0.003, 0.02), signal.shape)).astype(np.float32)


def to_pixels(
    signal: np.ndarray, support: np.ndarray, amplitude: float, rng: np.random.Generator
) -> np.ndarray:
    """Contrast and quantisation: (H, W) uint16 (three in ten) or uint8.

    The operator sets black a little below the support (its 0.1-2 % quantile)
    and white 0.5-1.5 particle amplitudes above its 99.9 % quantile, onto a
    black level of 0-15 % and a white level of 80-100 % of the range; outside
    it clips. The levels come from the support and the particles' brightness,
    not from where the particles lie, so they do not tell the class.

    Args:
        signal: (H, W) detector signal.
        support: (H, W) support without particles, same units.
        amplitude: the particles' brightness, same units.
        rng: random generator.
    """
    low, top = np.quantile(support, [rng.uniform(0.001, 0.02), 0.999])
    high = top + rng.uniform(0.5, 1.5) * amplitude
    black, white = rng.uniform(0.0, 0.15), rng.uniform(0.8, 1.0)
    unit = np.clip(black + (signal - low) / (high - low) * (white - black), 0.0, 1.0)
    dtype = np.uint16 if rng.random() < 0.3 else np.uint8
    return np.round(unit * np.iinfo(dtype).max).astype(dtype)

"""Pd nanoparticles in SEM images: detection, sizes and spatial statistics.

:func:`detect_particles` finds bright, roughly round blobs with a
scale-normalised Laplacian-of-Gaussian (LoG) scale space at full resolution,
so the smallest particles (1-2 px) are not lost to downsampling. The
responses ``-sigma^2 ∇²G_sigma * image`` are computed for all scales from one
FFT of the (reflect-padded) image with the exact Gaussian transfer function,
which costs the same at every sigma. A particle is a local maximum of the
response in space and scale whose prominence passes a floor per scale. With
an explicit ``threshold`` (the old fixed setting) the floor is the larger of
``threshold / 2`` (a Gaussian blob of peak contrast c gives c / 2 at its own
scale) and :data:`MIN_SNR` times the response noise of its scale (a robust
standard deviation over the image). By default (``threshold=None``) there is
no absolute contrast; the floor is estimated per image:

* the response noise of each scale, as above (shot noise, scan lines and
  texture together), so faint particles on a quiet surface count;
* the least SNR, from the dark blobs: noise and texture make dark blobs as
  readily as bright ones, particles only bright ones, so the count of dark
  scale-space maxima above an SNR estimates the noise among the bright ones.
  The SNR is the lowest in :data:`_SNR_RANGE` where that estimate is at most
  :data:`_FALSE_SHARE` of the bright count; strong texture lowers it to
  about 3.5, a bare surface keeps :data:`MIN_SNR`. The finest scale keeps
  :data:`MIN_SNR`: single-pixel shot noise has a heavier bright tail than
  dark one, which the dark blobs would miss.

A detection holding two or more finer maxima with a dip between them (two
touching particles respond most at one coarser scale between them) is
replaced by those; this helps a little, most merged pairs still merge.

Prominence is the peak less the response two sigmas away along the peak's
flattest direction (the lower of the two sides): a particle stands out in
every direction, a noise bump on a bright sheet border does not stand out
along the border. One detection is kept where several overlap (strongest
first), and none is reported within 1 px of the image border.

Positions and scales are refined to sub-pixel / sub-scale precision by
parabolas through the neighbouring responses. The best scale of a Gaussian
blob is its own sigma; the diameter reported is the full width at half
maximum, 2 sqrt(2 ln 2) sigma ≈ 2.355 sigma, the apparent size in the image
(the renderer in :mod:`simulation.render` draws particles with a FWHM of
about their diameter). It includes the beam blur, so particles smaller than
about two pixels or than the probe all look that large: at 1 nm/px a 2.5-nm
particle under a 0.8-px blur reads about 30 % large; at 0.25 nm/px sizes are
within a few per cent.

Known limits: shot noise has a heavier bright tail than a Gaussian, which
leaves a few false detections per megapixel of bare surface; corners of
bright sheet borders look like blobs and can be detected; touching
particles may be read as one.

:func:`particle_statistics` turns detections into the numbers stored per
image: density, size histogram, nearest-neighbour distance, Clark–Evans ratio
and Ripley's L (:mod:`analysis.spatial`).
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage
from scipy.spatial import cKDTree

from analysis.spatial import (
    MAX_RADIUS_FRACTION,
    clark_evans,
    nearest_neighbour_distances,
    ripley_l,
)

#: Response / noise ratio a particle needs (noise: robust std of the response at its scale).
MIN_SNR = 5.0

#: Diameter (FWHM) per LoG scale sigma.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: Width of the diameter histogram bins, nm.
HISTOGRAM_BIN_NM = 0.5

# Finer scales are not sampled by the pixel grid: a blob is at least this wide.
_MIN_SIGMA_PX = 0.7
# Ratio of neighbouring scales: 3 per octave (sizes are refined between them).
_SCALE_STEP = 2.0 ** (1.0 / 3.0)
# Distance, in sigmas, at which the prominence of a maximum is measured.
_PROMINENCE_SIGMAS = 2.0
# Reflect padding of the image before the FFT, in units of the largest sigma.
_PAD_SIGMAS = 4.0
_NM2_PER_UM2 = 1e6
# Least response noise assumed (a noise-free image would otherwise find the filters' ringing):
# one grey level of an 8-bit image.
_MIN_NOISE = 1.0 / 255
# Adaptive threshold: the least SNR lies in this range.
_SNR_RANGE = (3.0, MIN_SNR)
# Merged pairs are looked for this many scales finer; the response between must dip this low.
_SPLIT_SCALES = 2
_SPLIT_DIP = 0.8
# Largest estimated share of noise among the detections.
_FALSE_SHARE = 0.05


@dataclass(frozen=True)
class Particles:
    """Particles detected in one image.

    Attributes:
        positions_xy: (N, 2) float64 centres x, y in px (sub-pixel).
        diameters_nm: (N,) float64 apparent diameters (FWHM), nm.
    """

    positions_xy: np.ndarray
    diameters_nm: np.ndarray


@dataclass(frozen=True)
class ParticleSummary:
    """Per-image particle statistics, fields as in the results' ``ParticleStatistics`` row.

    Attributes:
        count: number of particles.
        density_per_um2: particles per µm² of the field.
        mean_diameter_nm: mean diameter, nm; ``None`` without particles.
        diameter_histogram: ``{"edges_nm": [...], "counts": [...]}``, bins of
            :data:`HISTOGRAM_BIN_NM` from 0 to the largest diameter (both lists
            empty without particles).
        mean_nearest_neighbour_nm: mean nearest-neighbour distance, nm (no
            edge correction); ``None`` for fewer than 2 particles.
        clark_evans_r: Clark–Evans ratio (1 random, < 1 clustered); ``None``
            for fewer than 2 particles.
        ripley_l: ``{"<radius nm>": L(r) in nm}`` with the translation edge
            correction (:func:`analysis.spatial.ripley_l`); radii over
            :data:`analysis.spatial.MAX_RADIUS_FRACTION` of the shorter field
            side are left out; empty for fewer than 2 particles.
    """

    count: int
    density_per_um2: float
    mean_diameter_nm: float | None
    diameter_histogram: dict[str, list[float] | list[int]]
    mean_nearest_neighbour_nm: float | None
    clark_evans_r: float | None
    ripley_l: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (builtin ints, floats, lists, ``None``)."""
        return asdict(self)


def detect_particles(
    image: np.ndarray,
    pixel_size_nm: float,
    *,
    min_diameter_nm: float = 1.0,
    max_diameter_nm: float = 12.0,
    threshold: float | None = None,
) -> Particles:
    """Find bright round particles with a LoG scale space (see the module docstring).

    Args:
        image: (H, W) unsigned-integer image, or float in [0, 1]; integer
            images are divided by their dtype's maximum.
        pixel_size_nm: nm per pixel (> 0).
        min_diameter_nm: smallest diameter searched, nm; smaller particles are
            still found (reported at this size or at 2.355 x 0.7 px, whichever
            is larger).
        max_diameter_nm: largest diameter, nm; larger blobs are not reported.
        threshold: least peak contrast of a particle over its surroundings,
            fraction of full scale (0..1), with the fixed :data:`MIN_SNR`
            floor; ``None`` (default): no absolute contrast, the floor is
            estimated from the image (see the module docstring).

    Returns:
        :class:`Particles`, most prominent first.

    Example:
        >>> image = np.zeros((64, 64), np.uint8)
        >>> image[30:33, 40:43] = 200
        >>> found = detect_particles(image, 1.0)
        >>> found.positions_xy.round(1).tolist(), found.diameters_nm.round(1).tolist()
        ([[41.0, 31.0]], [2.8])
    """
    unit = _unit_image(image)
    if not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}")
    if not 0 < min_diameter_nm <= max_diameter_nm:
        raise ValueError(
            f"need 0 < min_diameter_nm <= max_diameter_nm, got {min_diameter_nm}, {max_diameter_nm}"
        )
    if threshold is not None and not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")

    sigma_min = max(min_diameter_nm / pixel_size_nm / FWHM_PER_SIGMA, _MIN_SIGMA_PX)
    sigma_max = max(max_diameter_nm / pixel_size_nm / FWHM_PER_SIGMA, sigma_min)
    n_scales = math.ceil(math.log(sigma_max / sigma_min) / math.log(_SCALE_STEP)) + 1
    # One scale more above the range: a maximum must fall off on both sides to count.
    sigmas = sigma_min * _SCALE_STEP ** np.arange(n_scales + 1)
    responses = _log_responses(unit, sigmas)
    noise = np.array([_robust_std(r) for r in responses])
    if threshold is None:
        noise = np.maximum(noise, _MIN_NOISE)
        # The finest scale sees single-pixel shot noise, whose bright tail is heavier
        # than its dark one: there the dark blobs cannot tell the noise, so its floor stays.
        floors = noise * np.where(np.arange(sigmas.size) == 0, MIN_SNR, _SNR_RANGE[0])
        positions, sigma_px, prominence, scale = _blobs(responses, sigmas, floors, n_scales)
        dark = _blobs(-responses, sigmas, floors, n_scales)
        snr = prominence / noise[scale]
        fine = scale == 0
        dark_snr = (dark[2] / noise[dark[3]])[dark[3] > 0]
        least_snr = _adaptive_snr(snr[~fine], dark_snr)
        distinct = np.where(fine, snr >= MIN_SNR, snr >= least_snr)
        positions, sigma_px, prominence = _split_merged(
            responses,
            sigmas,
            least_snr * noise,
            positions[distinct],
            sigma_px[distinct],
            prominence[distinct],
            scale[distinct],
        )
    else:
        floors = np.maximum(threshold / 2.0, MIN_SNR * noise)
        positions, sigma_px, prominence, _ = _blobs(responses, sigmas, floors, n_scales)
    order = np.argsort(-prominence, kind="stable")
    positions, diameters_px = positions[order], FWHM_PER_SIGMA * sigma_px[order]
    kept = _suppress_overlaps(positions, diameters_px)
    return Particles(positions_xy=positions[kept], diameters_nm=diameters_px[kept] * pixel_size_nm)


def _blobs(
    responses: np.ndarray, sigmas: np.ndarray, floors: np.ndarray, n_scales: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scale-space maxima inside the scale range whose prominence reaches their scale's floor.

    Returns:
        (N, 2) x, y in px; (N,) sigma in px; (N,) prominence; (N,) int scale index.
    """
    scale, y, x = _scale_space_maxima(responses, floors)
    inside = scale < n_scales
    scale, y, x = scale[inside], y[inside], x[inside]
    positions, sigma_px, prominence = _describe(responses, sigmas, scale, y, x)
    distinct = prominence >= floors[scale]
    return positions[distinct], sigma_px[distinct], prominence[distinct], scale[distinct]


def _split_merged(
    responses: np.ndarray,
    sigmas: np.ndarray,
    floors: np.ndarray,
    positions: np.ndarray,
    sigma_px: np.ndarray,
    prominence: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections that hold two or more distinct finer blobs, replaced by those blobs.

    Two touching particles respond most at a scale between them, so the scale
    space holds one maximum at their midpoint. At a finer scale the pair shows
    as two spatial maxima above the floor with a dip between them.
    """
    out_xy, out_sigma, out_prom = [positions], [sigma_px], [prominence]
    keep = np.ones(prominence.size, bool)
    peaks = {}
    for i in np.flatnonzero(scale >= _SPLIT_SCALES):
        finer = scale[i] - _SPLIT_SCALES
        if finer not in peaks:
            points = _spatial_maxima(responses[finer], floors[finer])
            peaks[finer] = (points, cKDTree(points) if len(points) else None)
        points, tree = peaks[finer]
        if tree is None:
            continue
        radius = 0.5 * FWHM_PER_SIGMA * sigma_px[i]
        near = points[tree.query_ball_point(positions[i], radius)]
        if len(near) < 2:
            continue
        r = responses[finer]
        value = r[near[:, 1].astype(int), near[:, 0].astype(int)]
        near, value = near[np.argsort(-value)], np.sort(value)[::-1]
        chosen = [0]
        for j in range(1, len(near)):
            if all(_dip(r, near[j], near[k], min(value[j], value[k])) for k in chosen):
                chosen.append(j)
        if len(chosen) >= 2:
            keep[i] = False
            out_xy.append(near[chosen])
            out_sigma.append(np.full(len(chosen), sigmas[finer]))
            out_prom.append(value[chosen])
    out_xy[0], out_sigma[0], out_prom[0] = positions[keep], sigma_px[keep], prominence[keep]
    return np.concatenate(out_xy), np.concatenate(out_sigma), np.concatenate(out_prom)


def _spatial_maxima(response: np.ndarray, floor: float) -> np.ndarray:
    """(K, 2) float64 x, y of interior 3 x 3 maxima of (H, W) ``response`` of at least ``floor``."""
    y, x = np.nonzero(response[1:-1, 1:-1] >= floor)
    y, x = y + 1, x + 1
    value = response[y, x]
    is_max = np.ones(y.size, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                is_max &= value >= response[y + dy, x + dx]
    return np.column_stack([x[is_max], y[is_max]]).astype(np.float64)


def _dip(response: np.ndarray, a: np.ndarray, b: np.ndarray, lower_peak: float) -> bool:
    """Whether the response dips below :data:`_SPLIT_DIP` of the lower peak between points a, b."""
    t = np.linspace(0.2, 0.8, 7)[:, None]
    line = a + t * (b - a)
    along = ndimage.map_coordinates(response, [line[:, 1], line[:, 0]], order=1)
    return bool(along.min() < _SPLIT_DIP * lower_peak)


def _adaptive_snr(bright: np.ndarray, dark: np.ndarray) -> float:
    """Least SNR at which the dark blobs (noise only) are few against the bright ones.

    Noise and texture make dark blobs as readily as bright ones; particles are
    only bright. So the count of dark blobs above an SNR estimates how many
    bright blobs above it are noise, and the threshold is the lowest SNR in
    :data:`_SNR_RANGE` where that estimate is at most :data:`_FALSE_SHARE` of
    the bright count.
    """
    low, high = _SNR_RANGE
    levels = np.sort(bright[(bright >= low) & (bright <= high)])
    n_bright = bright.size - np.searchsorted(np.sort(bright), levels, side="left")
    n_dark = dark.size - np.searchsorted(np.sort(dark), levels, side="left")
    good = (n_dark + 1) <= _FALSE_SHARE * n_bright
    return float(levels[np.argmax(good)]) if good.any() else high


def particle_statistics(
    particles: Particles,
    width_px: int,
    height_px: int,
    pixel_size_nm: float,
    radii_nm: Sequence[float] = (5, 10, 20, 50),
) -> ParticleSummary:
    """Density, sizes and spatial order of the particles of one image.

    Args:
        particles: detections in the field (positions in px).
        width_px: field width, px.
        height_px: field height, px.
        pixel_size_nm: nm per pixel (> 0).
        radii_nm: radii for Ripley's L, nm (> 0); those the field is too small
            for are left out.

    Returns:
        :class:`ParticleSummary`.
    """
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"field must have a positive size, got {width_px} x {height_px} px")
    if not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}")
    radii = np.asarray(radii_nm, np.float64)
    if radii.ndim != 1 or not (radii > 0).all():
        raise ValueError(f"radii_nm must be a sequence of positive radii, got {radii_nm}")
    points_nm = np.asarray(particles.positions_xy, np.float64).reshape(-1, 2) * pixel_size_nm
    diameters = np.asarray(particles.diameters_nm, np.float64)
    if diameters.shape != (points_nm.shape[0],):
        raise ValueError(f"{points_nm.shape[0]} positions but diameters of shape {diameters.shape}")
    width_nm, height_nm = width_px * pixel_size_nm, height_px * pixel_size_nm
    count = points_nm.shape[0]
    summary = ParticleSummary(
        count=count,
        density_per_um2=count / (width_nm * height_nm / _NM2_PER_UM2),
        mean_diameter_nm=float(diameters.mean()) if count else None,
        diameter_histogram=_diameter_histogram(diameters),
        mean_nearest_neighbour_nm=None,
        clark_evans_r=None,
        ripley_l={},
    )
    if count < 2:
        return summary
    radii = radii[radii <= MAX_RADIUS_FRACTION * min(width_nm, height_nm)]
    l_values = ripley_l(points_nm, width_nm, height_nm, radii) if radii.size else []
    return replace(
        summary,
        mean_nearest_neighbour_nm=float(nearest_neighbour_distances(points_nm).mean()),
        clark_evans_r=clark_evans(points_nm, width_nm, height_nm),
        ripley_l={f"{r:g}": float(v) for r, v in zip(radii, l_values, strict=True)},
    )


def _unit_image(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: unsigned integers over their maximum, floats as they are."""
    if not isinstance(image, np.ndarray) or image.ndim != 2 or min(image.shape) < 3:
        raise ValueError(
            f"image must be an (H, W) array of at least 3 x 3, got {getattr(image, 'shape', None)}"
        )
    if image.dtype.kind == "u":
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    if image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError("a float image must be finite and in [0, 1]")
        return image.astype(np.float32)
    raise ValueError(f"image must be unsigned integer or float, got {image.dtype}")


def _log_responses(unit: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """(S, H, W) float32 scale-normalised ``-sigma^2 ∇²G_sigma * unit`` for each sigma (px)."""
    height, width = unit.shape
    pad = min(math.ceil(_PAD_SIGMAS * sigmas[-1]), height - 1, width - 1)
    padded = np.pad(unit, pad, mode="reflect")
    shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in padded.shape)
    spectrum = scipy.fft.rfft2(padded, s=shape, workers=-1)
    ky = (2.0 * np.pi * scipy.fft.fftfreq(shape[0])).astype(np.float32)
    kx = (2.0 * np.pi * scipy.fft.rfftfreq(shape[1])).astype(np.float32)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    responses = np.empty((sigmas.size, height, width), np.float32)
    for i, sigma in enumerate(sigmas.astype(np.float32)):
        # Fourier transform of -sigma^2 ∇²G_sigma: sigma^2 k^2 exp(-sigma^2 k^2 / 2).
        transfer = sigma**2 * k2 * np.exp(-0.5 * sigma**2 * k2)
        filtered = scipy.fft.irfft2(spectrum * transfer, s=shape, workers=-1)
        responses[i] = filtered[pad : pad + height, pad : pad + width]
    return responses


def _scale_space_maxima(
    responses: np.ndarray, floors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale, row and column indices of interior 3 x 3 x 3 maxima of (S, H, W) ``responses``.

    Only responses of at least ``floors[s]`` (one per scale) are considered.
    """
    n_scales = responses.shape[0]
    found: list[tuple[np.ndarray, ...]] = []
    for i in range(n_scales):
        response = responses[i]
        y, x = np.nonzero(response[1:-1, 1:-1] >= floors[i])
        y, x = y + 1, x + 1
        value = response[y, x]
        is_max = np.ones(y.size, bool)
        for j in range(max(i - 1, 0), min(i + 2, n_scales)):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if j != i or dy or dx:
                        is_max &= value > responses[j, y + dy, x + dx]
        found.append((np.full(int(is_max.sum()), i), y[is_max], x[is_max]))
    scale, y, x = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return scale, y, x


def _robust_std(values: np.ndarray) -> float:
    """Standard deviation of the bulk of ``values`` from the median absolute deviation."""
    sample = values[::4, ::4]
    return 1.4826 * float(np.median(np.abs(sample - np.median(sample))))


def _describe(
    responses: np.ndarray, sigmas: np.ndarray, scale: np.ndarray, y: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-pixel position, scale and prominence of interior scale-space maxima.

    Args:
        responses: (S, H, W) LoG responses at ``sigmas``.
        sigmas: (S,) geometric scales, px.
        scale, y, x: (N,) int indices of maxima, none at the first or last row
            or column or at the last scale.

    Returns:
        (N, 2) float64 x, y in px; (N,) float64 sigma in px; (N,) float64
        prominence: the peak response less the higher of 0 and the lower of
        the responses :data:`_PROMINENCE_SIGMAS` sigma away on either side
        along the direction of weakest curvature. Along a bright line that is
        the line's own response, so noise bumps on sheet borders are not
        prominent while particles sitting on them are.
    """

    def at(dy: int, dx: int) -> np.ndarray:
        return responses[scale, y + dy, x + dx].astype(np.float64)

    peak, left, right, up, down = at(0, 0), at(0, -1), at(0, 1), at(-1, 0), at(1, 0)
    positions = np.column_stack(
        [x + _parabola_vertex(left, peak, right), y + _parabola_vertex(up, peak, down)]
    )
    # The finest scale has no neighbour below: its sizes are not refined.
    below = responses[np.maximum(scale - 1, 0), y, x]
    d_scale = np.where(scale > 0, _parabola_vertex(below, peak, responses[scale + 1, y, x]), 0.0)
    sigma_px = sigmas[0] * (sigmas[1] / sigmas[0]) ** (scale + d_scale)

    d_xx, d_yy = left - 2.0 * peak + right, up - 2.0 * peak + down
    d_xy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    # Eigenvector of the larger (least negative) eigenvalue of the Hessian.
    angle = 0.5 * np.arctan2(2.0 * d_xy, d_xx - d_yy)
    step = _PROMINENCE_SIGMAS * sigmas[scale] * np.stack([np.sin(angle), np.cos(angle)])
    sides = [
        ndimage.map_coordinates(
            responses, [scale, y + sign * step[0], x + sign * step[1]], order=1, mode="nearest"
        )
        for sign in (1.0, -1.0)
    ]
    prominence = peak - np.maximum(np.minimum(*sides), 0.0)
    return positions, sigma_px, prominence


def _parabola_vertex(before: np.ndarray, at: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Offset of the vertex of the parabola through 3 equally spaced samples, in [-0.5, 0.5]."""
    curvature = before - 2.0 * at + after
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5)


def _suppress_overlaps(positions: np.ndarray, diameters_px: np.ndarray) -> np.ndarray:
    """Indices of the detections to keep: one whose centre lies inside a stronger one goes.

    Args:
        positions: (N, 2) x, y in px, strongest first.
        diameters_px: (N,) diameters in px.
    """
    radii = 0.5 * diameters_px
    keep = np.ones(positions.shape[0], bool)
    if positions.shape[0] < 2:
        return np.flatnonzero(keep)
    pairs = cKDTree(positions).query_pairs(float(radii.max()), output_type="ndarray")
    distance = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)
    pairs = pairs[distance < np.maximum(radii[pairs[:, 0]], radii[pairs[:, 1]])]
    # Pairs are (stronger, weaker); in order of the stronger, its fate is already settled.
    for stronger, weaker in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:
        if keep[stronger]:
            keep[weaker] = False
    return np.flatnonzero(keep)


def _diameter_histogram(diameters_nm: np.ndarray) -> dict[str, list[float] | list[int]]:
    """Counts in :data:`HISTOGRAM_BIN_NM` bins from 0 to the largest diameter."""
    if diameters_nm.size == 0:
        return {"edges_nm": [], "counts": []}
    n_bins = max(math.ceil(float(diameters_nm.max()) / HISTOGRAM_BIN_NM), 1)
    edges = HISTOGRAM_BIN_NM * np.arange(n_bins + 1)
    counts, _ = np.histogram(diameters_nm, bins=edges)
    return {"edges_nm": edges.tolist(), "counts": counts.tolist()}

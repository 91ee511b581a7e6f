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
no absolute contrast, and the particles are found in the image's own noise:

* the maps searched are signal-to-noise maps of a whitened matched filter
  (:func:`_matched_responses`): per scale the filter G_sigma / P, with P the
  power spectrum of the image's background (:func:`_background_power`: the
  image's periodogram, clear particles left out, smoothed), each map divided
  by its robust standard deviation. Texture at particle scales, scan lines
  and graded or stepped backgrounds have their power where the filter then
  looks least, so a 3-px particle on a coarser texture is found by its finer
  detail. On rendered scenes (``bench/bench_particles.py``, with the pair
  test below) this lifted the F1 of 2.5-6 px particles on strong texture
  from 0.49-0.67 to 0.69-0.78 (10-16 px: 0.78-0.83 before, 0.75-0.79 now:
  the texture's band is theirs), and of 2.5-px particles under scan-line
  noise of 0.08 from 0.71 to 0.83;
* the least SNR, from the dark blobs: noise and texture make dark blobs as
  readily as bright ones, particles only bright ones, so the count of dark
  scale-space maxima above an SNR estimates the noise among the bright ones.
  The SNR is the lowest in :data:`_SNR_RANGE` where that estimate is at most
  :data:`_FALSE_SHARE` of the bright count; strong texture lowers it to
  about 3.5, a bare surface keeps :data:`MIN_SNR`. The finest scale keeps
  :data:`MIN_SNR`: single-pixel shot noise has a heavier bright tail than
  dark one, which the dark blobs would miss;
* the whitened maps do not keep a blob's own scale and centre (they favour
  the detail above the background), so each detection is then sized and
  centred by the scale-normalised LoG, evaluated at the detections only
  (:func:`_log_refined`).

Two touching particles look like one elongated blob (they dip by a few per
cent between them): an elongated detection is replaced by two where a pair
of Gaussians fits its pixels significantly better than one
(:func:`_split_pairs`). A single particle elongated 1.6 : 1 or more is read
as two as well: Pd particles are near spheres. On rendered scenes this found
46-47 of 48 pair members at 6-16 px (24 before) and lifted F1 on bare,
graded and bright-sheet backgrounds by up to 0.08.

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
bright sheet borders look like blobs and can be detected; agglomerates of
three or more are read as fewer (about half their particles are found), and
a touching pair of unequal particles (amplitudes under 0.7 of each other) as
one.

:func:`particle_statistics` turns detections into the numbers stored per
image: density, size histogram, nearest-neighbour distance, Clark–Evans ratio
and Ripley's L (:mod:`analysis.spatial`).
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np
import scipy.fft
import scipy.special
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
# Touching pairs: least ratio of a detection's long to short axis variance to be tested;
# fit radius in sigmas; widths (x sigma) of the single and the pair's two Gaussians tried;
# separations tried (x the moments' half-length); the F test's level; least residual
# gain (x the single's energy); least ratio of the two amplitudes.
_PAIR_ELONGATION = 1.3
_PAIR_FIT_SIGMAS = 2.0
_SINGLE_WIDTHS = (0.8, 1.0, 1.25)
_PAIR_WIDTHS = (0.55, 0.7, 0.85)
_PAIR_SEPARATIONS = (0.8, 1.0, 1.25)
_PAIR_F_LEVEL = 0.999
_PAIR_GAIN = 0.03
_PAIR_AMPLITUDE_RATIO = 0.7
# Most brightness over the fitted background, x the lower amplitude, this many sigmas
# beyond each end of a pair.
_PAIR_BEYOND = 0.3
_PAIR_BEYOND_SIGMAS = 3.0
# Largest estimated share of noise among the detections.
_FALSE_SHARE = 0.05
# The background's power leaves out pixels this many robust stds off its trend, a blur
# of this many largest sigmas.
_OUTLIER_STDS = 5.0
_TREND_SIGMAS = 2.0
# Bins of the periodogram (Gaussian sigma) over which the background's power is smoothed.
_POWER_SMOOTHING_BINS = 2.0
# Frequencies of at least this fraction of the largest |k| hold the image's white noise.
_WHITE_K = 0.6
# Detections whose LoG scale is found in one pass (bounds the patches held at once).
_POINTS_PER_PASS = 256


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
    spectrum = _Spectrum.of(unit, sigmas[-1])
    if threshold is None:
        # Detected on signal-to-noise maps of the whitened matched filter, sized by the LoG.
        responses = _matched_responses(unit, spectrum, sigmas)
        # The finest scale sees single-pixel shot noise, whose bright tail is heavier
        # than its dark one: there the dark blobs cannot tell the noise, so its floor stays.
        floors = np.where(np.arange(sigmas.size) == 0, MIN_SNR, _SNR_RANGE[0])
        positions, sigma_px, snr, scale = _blobs(responses, sigmas, floors, n_scales)
        dark = _blobs(-responses, sigmas, floors, n_scales)
        fine = scale == 0
        least_snr = _adaptive_snr(snr[~fine], dark[2][dark[3] > 0])
        distinct = np.where(fine, snr >= MIN_SNR, snr >= least_snr)
        positions, sigma_px = _log_refined(
            unit, sigmas[:n_scales], positions[distinct], sigma_px[distinct]
        )
        prominence = snr[distinct]
        positions, sigma_px, prominence = _split_pairs(unit, positions, sigma_px, prominence)
    else:
        responses = _log_responses(spectrum, sigmas)
        noise = np.array([_robust_std(r) for r in responses])
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


def _split_pairs(
    unit: np.ndarray, positions: np.ndarray, sigma_px: np.ndarray, prominence: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections that are two touching particles, replaced by the two (see :func:`_pair_of`).

    Two particles about a diameter apart dip by only a few per cent between them
    (less under blur and saturation), so the scale space holds one elongated
    blob between them. A detection whose brightness is elongated (second
    moments, :data:`_PAIR_ELONGATION`) is tested against a pair; the halves
    keep its prominence.

    Args:
        unit: (H, W) float32 image in [0, 1].
        positions: (N, 2) x, y, px.
        sigma_px: (N,) LoG sigma of each detection, px.
        prominence: (N,) its prominence.

    Returns:
        positions, sigmas and prominences as given, with each split detection's
        row replaced by its two halves (appended at the end).
    """
    keep = np.ones(len(positions), bool)
    halves_xy, halves_sigma, halves_prominence = [], [], []
    for i, ((x, y), sigma) in enumerate(zip(positions, sigma_px, strict=True)):
        pair = _pair_of(unit, float(x), float(y), float(sigma))
        if pair is not None:
            keep[i] = False
            halves_xy.append(pair[0])
            halves_sigma += [pair[1]] * 2
            halves_prominence += [prominence[i]] * 2
    return (
        np.concatenate([positions[keep], *halves_xy]).reshape(-1, 2),
        np.concatenate([sigma_px[keep], halves_sigma]),
        np.concatenate([prominence[keep], halves_prominence]),
    )


def _pair_of(unit: np.ndarray, x: float, y: float, sigma: float) -> tuple[np.ndarray, float] | None:
    """The two particles a detection at x, y (px) of LoG ``sigma`` (px) is, or None if one.

    The brightness within 3 sigma (Gaussian-weighted over 2 sigma, less the
    median of the window's rim) gives the centroid and the principal axes;
    a detection no more elongated than :data:`_PAIR_ELONGATION` is one particle.
    Otherwise, over the pixels within :data:`_PAIR_FIT_SIGMAS` sigma, the
    best of a few round single Gaussians (background + amplitude, by linear
    least squares) is compared with the best of a few pairs of equal-width
    Gaussians on the long axis, each pair's two amplitudes fitted. A pair is
    taken where it lowers the residual significantly (F test, 2 and n - 5
    degrees of freedom, :data:`_PAIR_F_LEVEL`) and by at least
    :data:`_PAIR_GAIN` of the single's energy, with both amplitudes within
    :data:`_PAIR_AMPLITUDE_RATIO` of each other, the centres 1.5-3 of their
    sigmas apart (as touching particles are), and only the surface
    :data:`_PAIR_BEYOND_SIGMAS` sigmas beyond either end (a particle on a
    bright sheet border is elongated too, but the border goes on).

    Returns:
        ((2, 2) x, y of the two particles, px; their sigma, px), or None.
    """
    moments = _brightness_moments(unit, x, y, sigma)
    if moments is None:
        return None
    centre, long_var, short_var, axis = moments
    if long_var < _PAIR_ELONGATION * short_var:
        return None
    radius = math.ceil(_PAIR_FIT_SIGMAS * sigma) + 1
    height, width = unit.shape
    xi, yi = round(x), round(y)
    x0, x1 = max(xi - radius, 0), min(xi + radius + 1, width)
    y0, y1 = max(yi - radius, 0), min(yi + radius + 1, height)
    values = unit[y0:y1, x0:x1].astype(np.float64).ravel()
    rows, columns = np.mgrid[y0:y1, x0:x1]
    grid = np.column_stack([columns.ravel(), rows.ravel()]).astype(np.float64)

    # Round particles: a single one elongated 1.6 : 1 or more has a touching pair's
    # moments and is read as two (Pd particles are near spheres; two round ones are
    # the likelier reading, and their profile's shallow waist is all that tells them).
    single_sigmas = sigma * np.array(_SINGLE_WIDTHS)
    rss_single, single_coefficients = _least_squares(
        values, [[_gaussian(grid, centre, width)] for width in single_sigmas]
    )
    half = math.sqrt(long_var - short_var)
    candidates = [
        (np.array([centre + f_apart * half * axis, centre - f_apart * half * axis]), sigma * f)
        for f_apart in _PAIR_SEPARATIONS
        for f in _PAIR_WIDTHS
    ]
    rss_pairs, pair_coefficients = _least_squares(
        values, [[_gaussian(grid, end, width) for end in ends] for ends, width in candidates]
    )
    best_single, best_pair = int(np.argmin(rss_single)), int(np.argmin(rss_pairs))
    rss_single, single_sigma = float(rss_single[best_single]), single_sigmas[best_single]
    single_coefficients = single_coefficients[best_single]
    rss_pair, coefficients = float(rss_pairs[best_pair]), pair_coefficients[best_pair]
    ends, pair_sigma = candidates[best_pair]
    n = values.size
    improvement = (rss_single - rss_pair) / 2.0 / max(rss_pair / (n - 5), 1e-30)
    energy = float(np.sum((single_coefficients[1] * _gaussian(grid, centre, single_sigma)) ** 2))
    amplitudes = coefficients[1:]
    separation = float(np.linalg.norm(ends[0] - ends[1]))
    # Beyond both ends the surface, not more of a bright line the pair would sit on.
    outward = (ends[0] - centre) / max(separation / 2.0, 1e-9)
    reach = _PAIR_BEYOND_SIGMAS * pair_sigma
    beyond = [ends[0] + reach * outward, ends[1] - reach * outward]
    rim = ndimage.map_coordinates(unit, np.array(beyond)[:, ::-1].T, order=1, mode="nearest")
    is_pair = (
        float(rim.max()) - coefficients[0] < _PAIR_BEYOND * amplitudes.min()
        and improvement > scipy.special.fdtri(2, n - 5, _PAIR_F_LEVEL)
        and rss_single - rss_pair >= _PAIR_GAIN * energy
        and amplitudes.min() >= _PAIR_AMPLITUDE_RATIO * amplitudes.max() > 0
        and 1.5 * pair_sigma <= separation <= 3.0 * pair_sigma
    )
    return (ends, pair_sigma) if is_pair else None


def _least_squares(
    values: np.ndarray, models: list[list[np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Residual sums of squares and coefficients of fitting ``values`` by each model.

    Args:
        values: (n,) observations.
        models: M models of the same number k of (n,) columns each; every model
            also gets a constant column, first.

    Returns:
        (M,) residual sums of squares and (M, k + 1) coefficients (constant first),
        by the normal equations (a tiny ridge keeps near-equal columns solvable).
    """
    columns = np.asarray(models, np.float64)  # (M, k, n)
    design = np.concatenate([np.ones((columns.shape[0], 1, values.size)), columns], axis=1)
    gram = design @ design.transpose(0, 2, 1)
    gram += 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(gram.shape[1])
    coefficients = np.linalg.solve(gram, (design @ values)[..., None])[..., 0]
    fitted = np.einsum("mk,mkn->mn", coefficients, design)
    return np.sum((fitted - values) ** 2, axis=1), coefficients


def _brightness_moments(
    unit: np.ndarray, x: float, y: float, sigma: float
) -> tuple[np.ndarray, float, float, np.ndarray] | None:
    """Centroid (x, y px), long and short axis variances (px²) and long axis of a blob.

    Over the window of 3 ``sigma`` (px) around x, y: brightness above the median
    of the window's rim, weighted by a Gaussian of 2 sigma. None at the image
    border or without brightness above the rim.
    """
    r = math.ceil(3.0 * sigma) + 1
    xi, yi = round(x), round(y)
    height, width = unit.shape
    if xi - r < 0 or yi - r < 0 or xi + r >= width or yi + r >= height:
        return None
    patch = unit[yi - r : yi + r + 1, xi - r : xi + r + 1].astype(np.float64)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    distance = np.hypot(dx, dy)
    weight = np.clip(patch - np.median(patch[distance >= r - 1]), 0.0, None)
    weight *= np.exp(-0.5 * distance**2 / (2.0 * sigma) ** 2)
    total = weight.sum()
    if total <= 0:
        return None
    cx, cy = (weight * dx).sum() / total, (weight * dy).sum() / total
    cxx = (weight * (dx - cx) ** 2).sum() / total
    cyy = (weight * (dy - cy) ** 2).sum() / total
    cxy = (weight * (dx - cx) * (dy - cy)).sum() / total
    variances, axes = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    if variances[0] <= 0:
        return None
    return np.array([xi + cx, yi + cy]), float(variances[1]), float(variances[0]), axes[:, 1]


def _gaussian(points: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    """(N,) unit-peak Gaussian of ``sigma`` (px) around ``centre`` at (N, 2) x, y points."""
    return np.exp(-np.sum((points - centre) ** 2, axis=1) / (2.0 * sigma**2))


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


@dataclass(frozen=True)
class _Spectrum:
    """The real FFT of an (H, W) image reflect-padded by ``pad`` px on every side.

    Attributes:
        values: (M, N // 2 + 1) complex64 FFT of the padded image, zero-extended to (M, N).
        k2: (M, N // 2 + 1) float32 squared angular frequency of each bin, rad²/px².
        pad: padding, px.
        image_shape: (H, W) of the image.
        fft_shape: (M, N).
    """

    values: np.ndarray
    k2: np.ndarray
    pad: int
    image_shape: tuple[int, int]
    fft_shape: tuple[int, int]

    @classmethod
    def of(cls, unit: np.ndarray, sigma_max: float) -> "_Spectrum":
        """``unit``'s spectrum, padded by :data:`_PAD_SIGMAS` x ``sigma_max`` (px)."""
        height, width = unit.shape
        pad = min(math.ceil(_PAD_SIGMAS * sigma_max), height - 1, width - 1)
        # Less its mean: the zero-extension to the FFT's size then leaves no step at the frame.
        padded = np.pad(unit - unit.mean(dtype=np.float64).astype(np.float32), pad, mode="reflect")
        shape = tuple(scipy.fft.next_fast_len(n, real=True) for n in padded.shape)
        ky = (2.0 * np.pi * scipy.fft.fftfreq(shape[0])).astype(np.float32)
        kx = (2.0 * np.pi * scipy.fft.rfftfreq(shape[1])).astype(np.float32)
        values = scipy.fft.rfft2(padded, s=shape, workers=-1)
        return cls(values, ky[:, None] ** 2 + kx[None, :] ** 2, pad, unit.shape, shape)

    @property
    def pixels(self) -> int:
        """Pixels of the padded, zero-extended image the FFT was taken of."""
        return self.fft_shape[0] * self.fft_shape[1]

    def filtered(self, transfer: np.ndarray) -> np.ndarray:
        """(H, W) float32: the image filtered by ``transfer`` (one value per bin), unpadded."""
        height, width = self.image_shape
        full = scipy.fft.irfft2(self.values * transfer, s=self.fft_shape, workers=-1)
        return full[self.pad : self.pad + height, self.pad : self.pad + width]


def _log_transfer(k2: np.ndarray, sigma: float) -> np.ndarray:
    """Fourier transform of the scale-normalised LoG ``-sigma^2 ∇²G_sigma`` (sigma in px)."""
    return sigma**2 * k2 * np.exp(-0.5 * sigma**2 * k2)


def _log_responses(spectrum: _Spectrum, sigmas: np.ndarray) -> np.ndarray:
    """(S, H, W) float32 scale-normalised LoG responses of the image for each sigma (px)."""
    return np.stack([spectrum.filtered(_log_transfer(spectrum.k2, s)) for s in sigmas])


def _matched_responses(unit: np.ndarray, spectrum: _Spectrum, sigmas: np.ndarray) -> np.ndarray:
    """(S, H, W) float32 signal-to-noise maps of a whitened matched filter per sigma (px).

    The filter for a Gaussian blob of ``sigma`` in noise of power spectrum P is
    G_sigma(k) / P(k), the best linear detector of that blob (in Gaussian noise);
    P is the image's own power spectrum (:func:`_background_power`), so a
    texture at particle scales, scan noise or a graded background is weighted
    down where it has its power and the particles are found where it has none
    (the finer detail of a small particle above a coarser texture). Each map is
    divided by its robust standard deviation (at least that of white noise of
    one grey level, :data:`_MIN_NOISE`), so maps of all scales are in units of
    their noise and compared as such across scales.
    """
    power = _background_power(unit, spectrum, float(sigmas[-1]))
    maps = np.empty((sigmas.size, *spectrum.image_shape), np.float32)
    for i, sigma in enumerate(sigmas.astype(np.float32)):
        blob = np.exp(-0.5 * sigma**2 * spectrum.k2)
        transfer = blob / power
        transfer[0, 0] = 0.0  # the mean brightness says nothing about particles
        response = spectrum.filtered(transfer)
        # At least the response to white noise of one grey level (Parseval, both half-planes).
        floor = _MIN_NOISE * math.sqrt(2.0 * float(np.sum(transfer**2)) / spectrum.pixels)
        maps[i] = response / max(_robust_std(response), floor)
    return maps


def _background_power(unit: np.ndarray, spectrum: _Spectrum, sigma_max: float) -> np.ndarray:
    """(M, N // 2 + 1) float32 power of the background at each of ``spectrum``'s bins.

    The periodogram of the image with its clear particles left out, smoothed
    over :data:`_POWER_SMOOTHING_BINS` bins (so anisotropic power, scan lines or
    a texture's grain, is kept where it lies): the pixels more than
    :data:`_OUTLIER_STDS` robust standard deviations off the image's trend (a
    Gaussian blur of :data:`_TREND_SIGMAS` x ``sigma_max``, px), and their
    rims, take the trend's value (whitened by their own power, the filter
    would weigh down the very frequencies particles have; the texture's own
    extremes are few that far out). The power is nowhere below the white noise
    of the finest frequencies (|k| >= :data:`_WHITE_K` of the largest) nor
    below one grey level's (:data:`_MIN_NOISE`): whitening weighs down what
    the background has, it never lifts what it lacks.
    """
    width = _TREND_SIGMAS * sigma_max

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), width, borderType=cv2.BORDER_REFLECT)

    trend = blur(unit)
    residual = unit - trend
    off = np.abs(residual) > _OUTLIER_STDS * _robust_std(residual)
    off = ndimage.binary_dilation(off, iterations=2)
    # The trend again from the pixels kept (a normalised blur): what fills the particles'
    # place holds none of their brightness.
    kept = (~off).astype(np.float32)
    weight = blur(kept)
    kept_trend = blur(unit * kept)
    fill = np.where(weight > 0.05, kept_trend / np.maximum(weight, 0.05), trend)
    cleaned = _Spectrum.of(np.where(off, fill, unit), sigma_max)
    power = np.abs(cleaned.values) ** 2
    # Periodic along ky; along kx the half-plane mirrors at 0 and at the Nyquist column.
    smooth = ndimage.gaussian_filter(power, _POWER_SMOOTHING_BINS, mode=("wrap", "reflect"))
    white = float(np.mean(power[spectrum.k2 >= _WHITE_K**2 * float(spectrum.k2.max())]))
    floor = max(_MIN_NOISE**2 * spectrum.pixels, white)
    return np.maximum(smooth, floor).astype(np.float32)


def _log_refined(
    unit: np.ndarray, sigmas: np.ndarray, positions: np.ndarray, detected_sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each detection's scale and centre where the scale-normalised LoG peaks, near ``positions``.

    The LoG of a Gaussian blob peaks at the blob's own sigma and centre, which
    the whitened filter's maps do not keep (they favour the detail above the
    background's texture: smaller, and off the middle of a wide flat top). So
    the LoG is evaluated at the (N, 2) x, y ``positions`` (rounded to pixels)
    over the (S,) geometric ``sigmas``, px, and its best scale refined by a
    parabola; then at that scale over a neighbourhood of half the (N,)
    ``detected_sigma`` (the whitened filter's scale, px; at least 1 px: so
    neighbours found apart stay apart), whose highest pixel is refined by
    parabolas as in :func:`_describe`.

    Returns:
        (N, 2) float64 x, y, px, and (N,) float64 sigma, px.
    """
    if not len(positions):
        return positions.reshape(0, 2), np.empty(0)
    reach = np.maximum(1, np.ceil(0.5 * detected_sigma)).astype(int)
    radius = math.ceil(_PAD_SIGMAS * sigmas[-1]) + int(reach.max()) + 1
    padded = np.pad(unit, radius, mode="reflect")
    x, y = np.rint(positions).astype(int).T + radius
    kernels = [_log_kernel(float(sigma)) for sigma in sigmas]
    at_point = np.stack([_log_at(padded, kernel, x, y) for kernel in kernels], axis=1)
    best = np.argmax(at_point, axis=1)
    rows = np.arange(len(positions))
    inner = (best > 0) & (best < sigmas.size - 1)
    below = at_point[rows, np.maximum(best - 1, 0)]
    above = at_point[rows, np.minimum(best + 1, sigmas.size - 1)]
    offset = np.where(inner, _parabola_vertex(below, at_point[rows, best], above), 0.0)
    step = sigmas[1] / sigmas[0] if sigmas.size > 1 else 1.0
    sigma_px = sigmas[0] * step ** (best + offset)
    refined = np.empty((len(positions), 2))
    for scale, near in set(zip(best.tolist(), reach.tolist(), strict=True)):
        chosen = np.flatnonzero((best == scale) & (reach == near))
        span = np.arange(-near - 1, near + 2)  # one pixel more each side for the parabolas
        local = np.empty((len(chosen), span.size, span.size))  # (n, dy, dx)
        for row, dy in enumerate(span):
            for column, dx in enumerate(span):
                at = (x[chosen] + dx, y[chosen] + dy)
                local[:, row, column] = _log_at(padded, kernels[scale], *at)
        inside = local[:, 1:-1, 1:-1].reshape(len(chosen), -1)
        top = np.argmax(inside, axis=1)
        iy, ix = np.unravel_index(top, (span.size - 2, span.size - 2))
        iy, ix, n = iy + 1, ix + 1, np.arange(len(chosen))
        peak = local[n, iy, ix]
        dx = _parabola_vertex(local[n, iy, ix - 1], peak, local[n, iy, ix + 1])
        dy = _parabola_vertex(local[n, iy - 1, ix], peak, local[n, iy + 1, ix])
        refined[chosen, 0] = x[chosen] - radius + span[ix] + dx
        refined[chosen, 1] = y[chosen] - radius + span[iy] + dy
    height, width = unit.shape
    np.clip(refined[:, 0], 0, width - 1, out=refined[:, 0])
    np.clip(refined[:, 1], 0, height - 1, out=refined[:, 1])
    return refined, sigma_px


def _log_at(padded: np.ndarray, kernel: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,) float64 response of the (2r + 1, 2r + 1) ``kernel`` at pixels x, y of ``padded``."""
    r = kernel.shape[0] // 2
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)
    out = np.empty(len(x))
    for start in range(0, len(x), _POINTS_PER_PASS):
        part = slice(start, start + _POINTS_PER_PASS)
        out[part] = np.einsum("nij,ij->n", windows[y[part] - r, x[part] - r], kernel)
    return out


def _log_kernel(sigma: float) -> np.ndarray:
    """(2r + 1, 2r + 1) float32 spatial kernel of the scale-normalised LoG, r = 4 sigma.

    Made from the exact transfer function on a grid twice as wide, so it matches
    :func:`_log_responses` even at sigmas under a pixel.
    """
    r = math.ceil(_PAD_SIGMAS * sigma)
    n = scipy.fft.next_fast_len(4 * r + 2, real=True)
    ky = 2.0 * np.pi * scipy.fft.fftfreq(n)
    kx = 2.0 * np.pi * scipy.fft.rfftfreq(n)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    kernel = np.fft.fftshift(scipy.fft.irfft2(_log_transfer(k2, sigma), s=(n, n)))
    centre = n // 2
    return kernel[centre - r : centre + r + 1, centre - r : centre + r + 1].astype(np.float32)


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

"""SEM-like images of Pd nanoparticles on a carbon surface.

:func:`render_sem` draws what a secondary-electron image of a decorated
sample looks like: a dim, textured carbon surface; brighter stacked sheets
with bright step edges (sheet borders); soft brightness gradients over bends;
particles as bright blobs of their physical size (1-5 nm) at the image's
pixel size; then the microscope: beam blur, contrast and brightness of the
acquisition, scan-line offsets and shot noise (and, in wide styles, charging
streaks and scan-line jitter from :mod:`simulation.acquisition`); optionally a
Hitachi data bar and fewer significant bits (12-bit in 16-bit files).
:meth:`RenderStyle.random` varies the look as the paper's acquisitions vary,
:meth:`RenderStyle.wide` as micrographs from many labs do.
Positions are used as given (scan-line jitter moves them with their lines),
so the particle positions are the ground truth of the image;
:func:`render_sem_with_truth` returns that truth
with the image (:class:`RenderedImage`: centres, apparent diameters and a
particle mask).

Pixel coordinates: x is the column and y the row, and pixel centres lie at
integer coordinates (the centre of pixel ``image[r, c]`` is x = c, y = r).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from analysis.defects import channel
from analysis.particlelabels import disc_mask
from simulation.acquisition import charging_streaks, scan_jitter, to_bit_depth
from simulation.databar import draw_databar, magnification_for_pixel_size
from simulation.defectmaps import DefectMap

#: Default field, (H, W) px, as in the paper's data set.
DEFAULT_SHAPE = (890, 1280)

# Particles are drawn in a few size classes (one blur per class) instead of
# one kernel each; 8 log-spaced classes from 1 to 5 nm differ by < 25 %.
_N_SIZE_CLASSES = 8
# A particle adds tanh of a unit-peak Gaussian of sigma = diameter / 2.5; the
# bump is at half its height, tanh(1) / 2, where the Gaussian is
# atanh(tanh(1) / 2) ≈ 0.40, i.e. 1.35 sigma from the centre.
_DIAMETER_PER_SIGMA = 2.5
_FWHM_PER_SIGMA = 2.0 * np.sqrt(-2.0 * np.log(np.arctanh(np.tanh(1.0) / 2.0)))
#: Apparent diameter (FWHM of a particle's brightness bump as drawn, before the
#: beam blur) per physical diameter, ≈ 1.08.
FWHM_PER_DIAMETER = _FWHM_PER_SIGMA / _DIAMETER_PER_SIGMA
# Secondary electrons leave from a few nm around the particle, so even the
# smallest particle shows as a blob of about 2 px.
_MIN_SIGMA_PX = 0.8
#: Smallest apparent diameter drawn, px (≈ 2.16).
MIN_DIAMETER_PX = _FWHM_PER_SIGMA * _MIN_SIGMA_PX


@dataclass(frozen=True)
class RenderedImage:
    """A rendered SEM image and the ground truth of the particles drawn in it.

    Coordinates as in the module docstring: x = column, y = row, pixel
    centres at integers.

    Attributes:
        image: (H, W) uint8 or uint16 image, or (H + 70, W) with a data bar.
        particles_xy: (N, 2) float64 centres x, y in px of the particles drawn,
            in the order given (rows with NaN, particles in solution, left out),
            moved with their scan line under scan-line jitter.
        diameters_px: (N,) float64 apparent diameters, px: the full width at
            half maximum of each particle's brightness bump as drawn, before
            the beam blur (neighbours left out), ≈ :data:`FWHM_PER_DIAMETER`
            × diameter_nm / pixel_size_nm, at least :data:`MIN_DIAMETER_PX`;
            equal within a size class.
        mask: (H, W) bool, True within diameter / 2 of a particle's centre
            (:func:`analysis.particlelabels.disc_mask`); (H, W) is the field, without a data bar.
    """

    image: np.ndarray
    particles_xy: np.ndarray
    diameters_px: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class RenderStyle:
    """Appearance of one image; brightness values are fractions of full scale.

    Attributes:
        background: mean brightness of bare carbon.
        texture: amplitude of the surface texture.
        sheet_contrast: brightness step from one stacked sheet to the next.
        edge_brightness: extra brightness on sheet borders.
        edge_width_nm: width of the bright band along sheet borders, nm.
        bend_contrast: amplitude of the shading over bends.
        particle_brightness: peak brightness of a particle above the surface.
        blur_px: beam blur, Gaussian sigma in px.
        photons_per_full_scale: mean detector counts at brightness 1 (shot noise).
        line_noise: std of per-scan-line brightness offsets.
        gain: contrast setting.
        offset: brightness setting.
        gamma: detector response exponent.
        roughness: amplitude of a rough support's texture (carbon spheres,
            activated carbon), correlated over ``roughness_scale_px``; 0: none.
        roughness_scale_px: correlation length of that texture, px.
        level_relief: shift sheets, edges and bends so that the surface's mean
            brightness is the bare carbon's: a defective surface is then no
            brighter on average than a smooth one.
        charging: peak brightness of charging streaks
            (:func:`simulation.acquisition.charging_streaks`); 0: none.
        scan_jitter_px: std of the sideways shifts of scan lines
            (:func:`simulation.acquisition.scan_jitter`), px; 0: none.
    """

    background: float = 0.3
    texture: float = 0.03
    sheet_contrast: float = 0.04
    edge_brightness: float = 0.2
    edge_width_nm: float = 4.0
    bend_contrast: float = 0.1
    particle_brightness: float = 0.7
    blur_px: float = 0.8
    photons_per_full_scale: float = 80.0
    line_noise: float = 0.01
    gain: float = 1.0
    offset: float = 0.0
    gamma: float = 1.0
    roughness: float = 0.0
    roughness_scale_px: float = 8.0
    level_relief: bool = False
    charging: float = 0.0
    scan_jitter_px: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> "RenderStyle":
        """A style varied the way acquisitions vary: contrast, brightness, noise, focus."""
        return cls(
            background=rng.uniform(0.2, 0.4),
            texture=rng.uniform(0.01, 0.05),
            sheet_contrast=rng.uniform(0.02, 0.06),
            edge_brightness=rng.uniform(0.1, 0.3),
            edge_width_nm=rng.uniform(2.0, 6.0),
            bend_contrast=rng.uniform(0.05, 0.15),
            particle_brightness=rng.uniform(0.55, 0.85),
            blur_px=rng.uniform(0.5, 1.1),
            photons_per_full_scale=rng.uniform(40.0, 160.0),
            line_noise=rng.uniform(0.0, 0.02),
            gain=rng.uniform(0.8, 1.25),
            offset=rng.uniform(-0.06, 0.06),
            gamma=rng.uniform(0.85, 1.15),
        )

    @classmethod
    def wide(cls, rng: np.random.Generator) -> "RenderStyle":
        """A style varied as micrographs from many labs vary, toward real images.

        Bare supports from dark (0.04) to bright (0.6) and from smooth to
        rough; particles brighter than the support by 35-95 % of the headroom
        left above it; beam blur from sharp to defocused (0.5-2.5 px); wide
        contrast, brightness and gamma; 20-300 counts at full scale; scan-line
        offsets up to 0.04; charging streaks in 40 % of images and scan-line
        jitter in half of them. Relief is levelled (``level_relief``), so a
        style's brightness says nothing about the surface's defects.
        """
        background = rng.uniform(0.04, 0.6)
        rough = rng.random() < 0.5
        return cls(
            background=background,
            texture=rng.uniform(0.0, 0.06),
            sheet_contrast=rng.uniform(0.02, 0.08),
            edge_brightness=rng.uniform(0.05, 0.35),
            edge_width_nm=rng.uniform(2.0, 8.0),
            bend_contrast=rng.uniform(0.03, 0.2),
            particle_brightness=(1.0 - background) * rng.uniform(0.35, 0.95),
            blur_px=float(np.exp(rng.uniform(np.log(0.5), np.log(2.5)))),
            photons_per_full_scale=float(np.exp(rng.uniform(np.log(20.0), np.log(300.0)))),
            line_noise=rng.uniform(0.0, 0.04),
            gain=rng.uniform(0.7, 1.4),
            offset=rng.uniform(-0.08, 0.08),
            gamma=float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))),
            roughness=rng.uniform(0.02, 0.12) if rough else 0.0,
            roughness_scale_px=rng.uniform(3.0, 25.0) if rough else 8.0,
            level_relief=True,
            charging=rng.uniform(0.05, 0.3) if rng.random() < 0.4 else 0.0,
            scan_jitter_px=rng.uniform(0.2, 1.0) if rng.random() < 0.5 else 0.0,
        )


def draw_diameters_nm(
    n: int,
    rng: np.random.Generator,
    median_nm: float = 2.5,
    spread: float = 0.3,
    range_nm: tuple[float, float] = (1.0, 5.0),
) -> np.ndarray:
    """(n,) particle diameters in nm: log-normal around ``median_nm``, clipped to ``range_nm``.

    Args:
        n: number of particles.
        rng: random generator.
        median_nm: median diameter, nm.
        spread: standard deviation of ln(diameter) (0.3: about ±35 %).
        range_nm: (smallest, largest) diameter, nm; the paper's Pd particles are 1-5 nm.
    """
    return np.clip(rng.lognormal(np.log(median_nm), spread, n), *range_nm)


def jitter_positions(
    positions_px: np.ndarray,
    diameters_nm: np.ndarray,
    pixel_size_nm: float,
    rng: np.random.Generator,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Sub-pixel positions for grid positions from a simulation.

    Each particle moves uniformly within its pixel; particles that share a
    pixel (a stack in the simulation) are spread by about one diameter, so
    that a stack is drawn as an agglomerate rather than as one blob.

    Args:
        positions_px: (N, 2) x, y in px (integer-valued).
        diameters_nm: (N,) particle diameters, nm.
        pixel_size_nm: nm per pixel.
        rng: random generator.
        shape: (H, W) of the field to keep positions in, px; ``None``: no limit.

    Returns:
        (N, 2) float64 x, y in px.
    """
    positions = np.asarray(positions_px, np.float64)
    jittered = positions + rng.uniform(-0.5, 0.5, positions.shape)
    _, inverse, counts = np.unique(
        np.round(positions).astype(np.int64), axis=0, return_inverse=True, return_counts=True
    )
    stacked = counts[inverse.ravel()] > 1
    spread_px = (np.asarray(diameters_nm) / pixel_size_nm)[stacked, None]
    jittered[stacked] += rng.normal(0.0, 1.0, (int(stacked.sum()), 2)) * spread_px
    if shape is not None:
        np.clip(jittered, 0.0, [shape[1] - 1, shape[0] - 1], out=jittered)
    return jittered


def render_sem(
    positions_px: np.ndarray,
    pixel_size_nm: float,
    rng: np.random.Generator,
    *,
    defect_map: DefectMap | None = None,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    diameters_nm: np.ndarray | None = None,
    style: RenderStyle | None = None,
    databar: bool = False,
    magnification: float | None = None,
    dtype: type[np.uint8] | type[np.uint16] = np.uint8,
    bit_depth: int | None = None,
) -> np.ndarray:
    """Render particles on a surface as an SEM secondary-electron image.

    The image of :func:`render_sem_with_truth` with the same arguments (see
    there); the same ``rng`` state gives the same pixels.

    Returns:
        (H, W) image of ``dtype``, or (H + 70, W) with the data bar.
    """
    return render_sem_with_truth(
        positions_px,
        pixel_size_nm,
        rng,
        defect_map=defect_map,
        shape=shape,
        diameters_nm=diameters_nm,
        style=style,
        databar=databar,
        magnification=magnification,
        dtype=dtype,
        bit_depth=bit_depth,
    ).image


def render_sem_with_truth(
    positions_px: np.ndarray,
    pixel_size_nm: float,
    rng: np.random.Generator,
    *,
    defect_map: DefectMap | None = None,
    shape: tuple[int, int] = DEFAULT_SHAPE,
    diameters_nm: np.ndarray | None = None,
    style: RenderStyle | None = None,
    databar: bool = False,
    magnification: float | None = None,
    dtype: type[np.uint8] | type[np.uint16] = np.uint8,
    bit_depth: int | None = None,
) -> RenderedImage:
    """Render particles on a surface as an SEM image, with the particles' truth.

    Args:
        positions_px: (N, 2) particle centres x, y in px; rows with NaN
            (particles in solution) are skipped.
        pixel_size_nm: nm per pixel.
        rng: random generator for texture, sizes and noise.
        defect_map: surface to draw (sheets, edges, bends); ``None`` draws a
            smooth surface of ``shape``.
        shape: (H, W) of the field when ``defect_map`` is ``None``.
        diameters_nm: (N,) particle diameters in nm; drawn with
            :func:`draw_diameters_nm` when ``None``.
        style: appearance; ``RenderStyle.random(rng)`` when ``None``.
        databar: append a Hitachi data bar (:func:`simulation.databar.draw_databar`).
        magnification: shown in the data bar; from the pixel size when ``None``.
        dtype: ``np.uint8`` or ``np.uint16``.
        bit_depth: significant bits of the field and bar
            (:func:`simulation.acquisition.to_bit_depth`: 12 in ``np.uint16``
            stores 0-4095, as Hitachi does); ``None``: all bits of ``dtype``.

    Returns:
        :class:`RenderedImage`: the (H, W) image of ``dtype`` (or (H + 70, W)
        with the data bar), the centres and apparent diameters of the
        particles drawn, and their (H, W) mask.
    """
    if defect_map is not None:
        shape = defect_map.shape
    if style is None:
        style = RenderStyle.random(rng)
    positions = np.asarray(positions_px, np.float64).reshape(-1, 2)
    if diameters_nm is None:
        diameters_nm = draw_diameters_nm(positions.shape[0], rng)
    keep = np.isfinite(positions).all(axis=1)
    positions, diameters = positions[keep], np.asarray(diameters_nm, np.float64)[keep]

    surface = _surface(shape, pixel_size_nm, defect_map, style, rng)
    rendered = render_on_surface(
        surface, positions, diameters / pixel_size_nm, style, rng, dtype=dtype
    )
    image = rendered.image
    if databar:
        if magnification is None:
            magnification = magnification_for_pixel_size(pixel_size_nm, shape[1])
        image = draw_databar(image, pixel_size_nm, magnification)
    if bit_depth is not None:
        image = to_bit_depth(image, bit_depth)
    return RenderedImage(image, rendered.particles_xy, rendered.diameters_px, rendered.mask)


def render_on_surface(
    surface: np.ndarray,
    positions_px: np.ndarray,
    diameters_px: np.ndarray,
    style: RenderStyle,
    rng: np.random.Generator,
    *,
    dtype: type[np.uint8] | type[np.uint16] = np.uint8,
    size_classes: int | None = _N_SIZE_CLASSES,
) -> RenderedImage:
    """Draw particles on a surface and acquire the image: the microscope part of a render.

    Particles add ``style.particle_brightness`` × tanh(profile); then beam
    blur, scan-line jitter and charging streaks (:mod:`simulation.acquisition`,
    where the style has them), gain, offset and gamma, scan-line offsets and
    shot noise (``rng``).

    Args:
        surface: (H, W) float32 brightness of the bare surface, fractions of
            full scale (e.g. :func:`carbon_surface`); not modified.
        positions_px: (N, 2) finite particle centres x, y, px.
        diameters_px: (N,) physical particle diameters, px (diameter_nm /
            pixel_size_nm); drawn as bumps of FWHM ≈
            :data:`FWHM_PER_DIAMETER` × diameter, at least :data:`MIN_DIAMETER_PX`.
        style: appearance (only the particle and acquisition fields are used).
        rng: random generator for the noise.
        dtype: ``np.uint8`` or ``np.uint16``.
        size_classes: number of log-spaced size classes particles are drawn
            in (one blur each); ``None``: every distinct size exactly.

    Returns:
        :class:`RenderedImage` of the (H, W) image; under scan-line jitter its
        centres are where the jitter moved the particles.
    """
    shape = surface.shape
    positions = np.asarray(positions_px, np.float64).reshape(-1, 2)
    density, sigmas = _particle_density(
        shape, positions, np.asarray(diameters_px, np.float64), size_classes
    )
    image = surface + style.particle_brightness * np.tanh(density)
    image = cv2.GaussianBlur(image, (0, 0), style.blur_px)
    if style.scan_jitter_px > 0:
        image, positions = scan_jitter(image, positions, style.scan_jitter_px, rng)
    if style.charging > 0:
        image += charging_streaks(shape, style.charging, rng)
    image = np.clip(style.offset + style.gain * image, 0.0, 1.0) ** style.gamma
    image += rng.normal(0.0, style.line_noise, (shape[0], 1)).astype(np.float32)
    photons = style.photons_per_full_scale
    image = rng.poisson(np.clip(image, 0.0, None) * photons).astype(np.float32) / photons

    full_scale = np.iinfo(dtype).max
    out = np.round(np.clip(image, 0.0, 1.0) * full_scale).astype(dtype)
    diameters = _FWHM_PER_SIGMA * sigmas
    return RenderedImage(out, positions, diameters, disc_mask(shape, positions, diameters))


def _surface(
    shape: tuple[int, int],
    pixel_size_nm: float,
    defect_map: DefectMap | None,
    style: RenderStyle,
    rng: np.random.Generator,
) -> np.ndarray:
    """(H, W) float32 brightness of the carbon surface with the defect map's sheets and bends."""
    image = carbon_surface(shape, style, rng)
    if defect_map is None:
        return image
    bare_mean = float(image.mean())
    levels = rng.normal(0.0, 1.0, int(defect_map.sheet_index.max()) + 1).astype(np.float32)
    image += style.sheet_contrast * (
        defect_map.sheet_index.astype(np.float32) * 0.5 + levels[defect_map.sheet_index]
    )
    edges = defect_map.layers[channel("sheet_border")].astype(np.float32)
    if edges.any():
        sigma_px = max(0.7, 0.5 * style.edge_width_nm / pixel_size_nm)
        band = cv2.GaussianBlur(edges, (0, 0), sigma_px)
        image += style.edge_brightness * band / max(float(band.max()), 1e-6)
    if defect_map.bend_height.any():
        # Shading lit from the upper left: a soft gradient across each groove.
        grad_y, grad_x = np.gradient(cv2.GaussianBlur(defect_map.bend_height, (0, 0), 3.0))
        angle = rng.uniform(0.0, 2.0 * np.pi)
        shading = np.cos(angle) * grad_x + np.sin(angle) * grad_y
        image += style.bend_contrast * shading / max(float(np.abs(shading).max()), 1e-6)
        image += 0.5 * style.bend_contrast * defect_map.bend_height
    if style.level_relief:
        image -= np.float32(float(image.mean()) - bare_mean)
    return image


def carbon_surface(
    shape: tuple[int, int], style: RenderStyle, rng: np.random.Generator
) -> np.ndarray:
    """(H, W) float32 brightness of bare, flat carbon, fractions of full scale.

    ``style.background`` plus zero-mean texture of amplitude ``style.texture``:
    a broad undulation (over ~300 px) and half as much fine grain (~2 px);
    plus, on a rough support, texture of amplitude ``style.roughness`` over
    ``style.roughness_scale_px``.
    """
    image = np.full(shape, style.background, np.float32)
    image += style.texture * smooth_noise(shape, 300.0, rng)
    image += 0.5 * style.texture * smooth_noise(shape, 2.0, rng)
    if style.roughness > 0:
        image += style.roughness * smooth_noise(shape, style.roughness_scale_px, rng)
    return image


def smooth_noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 noise with unit std, correlated over about ``scale_px``."""
    height, width = shape
    if scale_px <= 4.0:
        noise = cv2.GaussianBlur(rng.standard_normal(shape, np.float32), (0, 0), scale_px)
    else:
        # Coarse noise upsampled: the same look as a wide blur at a fraction of the cost.
        coarse = (max(2, int(height / scale_px) + 2), max(2, int(width / scale_px) + 2))
        noise = cv2.resize(
            rng.standard_normal(coarse, np.float32), (width, height), interpolation=cv2.INTER_CUBIC
        )
    return noise / max(float(noise.std()), 1e-6)


def _particle_density(
    shape: tuple[int, int],
    positions: np.ndarray,
    diameters_px: np.ndarray,
    size_classes: int | None = _N_SIZE_CLASSES,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 sum of particle profiles, each peaking at ~1, and (N,) sigmas drawn, px.

    Each particle is splatted bilinearly at its sub-pixel position and blurred
    with a Gaussian of sigma = diameter / 2.5 (full width at half maximum ≈
    diameter), grouped into ``size_classes`` log-spaced classes (``None``:
    one class per distinct sigma).
    """
    density = np.zeros(shape, np.float32)
    if positions.shape[0] == 0:
        return density, np.zeros(0)
    sigmas = np.maximum(diameters_px / _DIAMETER_PER_SIGMA, _MIN_SIGMA_PX)
    if size_classes is None:
        class_sigmas, size_class = np.unique(sigmas, return_inverse=True)
    else:
        edges = np.geomspace(sigmas.min(), sigmas.max() * 1.0001, size_classes + 1)
        class_sigmas = np.sqrt(edges[:-1] * edges[1:])
        size_class = np.clip(np.searchsorted(edges, sigmas, side="right") - 1, 0, size_classes - 1)
    for k in np.unique(size_class):
        members = size_class == k
        sigma = float(class_sigmas[k])
        splat = _splat(shape, positions[members])
        blurred = cv2.GaussianBlur(splat, (0, 0), sigma)
        density += blurred * np.float32(2.0 * np.pi * sigma**2)
    return density, class_sigmas[size_class]


def _splat(shape: tuple[int, int], positions: np.ndarray) -> np.ndarray:
    """(H, W) float32 image with unit mass per point, spread bilinearly over 4 pixels."""
    height, width = shape
    x0 = np.floor(positions[:, 0]).astype(np.int64)
    y0 = np.floor(positions[:, 1]).astype(np.int64)
    fx, fy = positions[:, 0] - x0, positions[:, 1] - y0
    flat = np.zeros(height * width, np.float64)
    for dx, dy, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        x, y = x0 + dx, y0 + dy
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        flat += np.bincount(y[inside] * width + x[inside], weight[inside], minlength=flat.size)
    return flat.reshape(shape).astype(np.float32)

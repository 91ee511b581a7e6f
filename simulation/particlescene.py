"""Particle scenes with known truth, for evaluating particle detectors.

:func:`render_particle_scene` places particles of 2-20 px (a log-normal
spread around a chosen median) as isolated particles, touching pairs and
small agglomerates on one of the backgrounds particle detectors find hard
(:data:`BACKGROUNDS`), and renders them with :func:`simulation.render.render_on_surface`:
the same particle profiles, beam blur, scan-line offsets and shot noise as
:func:`simulation.render.render_sem`. Real micrographs from other labs show
particles of 1-20 px on textured or bright supports (carbon spheres,
activated carbon, flakes), which the paper's smooth-carbon images do not.

Coordinates as in :mod:`simulation.render`: x = column, y = row, pixel
centres at integers. Brightness values are fractions of full scale.
"""

from dataclasses import dataclass
from enum import IntEnum

import cv2
import numpy as np

from simulation.render import (
    FWHM_PER_DIAMETER,
    RenderedImage,
    RenderStyle,
    carbon_surface,
    render_on_surface,
    smooth_noise,
)

#: Backgrounds :func:`render_particle_scene` draws.
BACKGROUNDS = ("dark_smooth", "textured", "bright_sheet", "graded")
#: Default strength of each background's feature, fractions of full scale:
#: texture std, sheet brightness step, rise of the ramp across the frame.
BACKGROUND_CONTRAST = {"dark_smooth": 0.0, "textured": 0.1, "bright_sheet": 0.25, "graded": 0.4}

# Diameters are rounded to 32 log steps a decade (7 %), so a scene is drawn
# in a few dozen blurs whatever its particle count.
_SIZE_STEPS_PER_DECADE = 32
# Centres of different groups stay this many sums of radii (+ 2 px) apart,
# where a neighbour's profile adds < 1 % to a particle's peak.
_GROUP_CLEARANCE = 1.5
_PLACEMENT_TRIES = 2000
# Agglomerate members touch or sinter: centre spacing, in sums of radii.
_AGGLOMERATE_SPACING = (0.85, 1.0)
_AGGLOMERATE_MIN_SPACING = 0.75


class Arrangement(IntEnum):
    """How a particle of a scene lies relative to its neighbours."""

    ISOLATED = 0
    TOUCHING_PAIR = 1
    AGGLOMERATE = 2


@dataclass(frozen=True)
class SizeDistribution:
    """Apparent particle diameters (FWHM), px: log-normal, clipped to a range.

    Attributes:
        median_px: median diameter, px.
        spread: standard deviation of ln(diameter) (0.4: about ±50 %).
        min_px: smallest diameter, px, at least 2; diameters under
            :data:`simulation.render.MIN_DIAMETER_PX` (≈ 2.16 px) are drawn at that.
        max_px: largest diameter, px.
    """

    median_px: float = 6.0
    spread: float = 0.4
    min_px: float = 2.0
    max_px: float = 20.0

    def __post_init__(self) -> None:
        if not 2.0 <= self.min_px <= self.median_px <= self.max_px or self.spread < 0:
            raise ValueError("need 2 <= min_px <= median_px <= max_px and spread >= 0")

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) float64 diameters, px, rounded to 32 log steps a decade."""
        diameters = rng.lognormal(np.log(self.median_px), self.spread, n)
        steps = np.round(_SIZE_STEPS_PER_DECADE * np.log10(diameters))
        return np.clip(10.0 ** (steps / _SIZE_STEPS_PER_DECADE), self.min_px, self.max_px)


@dataclass(frozen=True)
class ParticleScene(RenderedImage):
    """A rendered scene (:class:`simulation.render.RenderedImage`) and how it was laid out.

    ``diameters_px`` are the drawn FWHMs: the diameters drawn from the
    :class:`SizeDistribution`, or :data:`simulation.render.MIN_DIAMETER_PX`
    (≈ 2.16 px, the narrowest the renderer draws) where those are smaller.

    Attributes:
        arrangement: (N,) int8 :class:`Arrangement` of each particle.
        group: (N,) int64 id of the isolated particle, pair or agglomerate
            each particle belongs to (0, 1, ... in the order placed).
        sheet_mask: (H, W) bool, True on the bright sheet (``bright_sheet``
            only; all False otherwise).
    """

    arrangement: np.ndarray
    group: np.ndarray
    sheet_mask: np.ndarray


def render_particle_scene(
    *,
    shape: tuple[int, int] = (512, 512),
    pixel_size_nm: float = 1.0,
    diameters: SizeDistribution | None = None,
    background: str = "dark_smooth",
    n_particles: int = 120,
    touching_fraction: float = 0.2,
    agglomerates: int = 3,
    seed: int = 0,
    style: RenderStyle | None = None,
    background_contrast: float | None = None,
) -> ParticleScene:
    """Render known particles for detector evaluation; the same arguments give the same scene.

    Every particle lies wholly inside the frame; different groups (isolated
    particles, pairs, agglomerates) keep clear of each other.

    Args:
        shape: (H, W) of the image, px.
        pixel_size_nm: nm per pixel; sets the width of the bright band along
            the sheet edge (``style.edge_width_nm``).
        diameters: apparent particle diameters (FWHM), px; ``SizeDistribution()``
            (median 6 px, 2-20 px) when ``None``.
        background: one of :data:`BACKGROUNDS`: ``dark_smooth`` (flat carbon,
            faint texture), ``textured`` (band-limited texture at particle
            scales, like graphite or carbon spheres), ``bright_sheet`` (a
            bright region with a wavy edge over 35-60 % of the frame),
            ``graded`` (brightness rising from left to right).
        n_particles: number of particles, all groups together.
        touching_fraction: share of the particles in touching pairs, in [0, 1];
            a pair's centres are 1.0-1.1 × the sum of its radii apart.
        agglomerates: number of agglomerates of 3-6 particles, spaced
            0.85-1.0 × the sum of radii (touching or sintered).
        seed: seed of the layout, background and noise.
        style: particle brightness, beam blur and noise; ``RenderStyle()`` when ``None``.
        background_contrast: strength of the background's feature, fraction
            of full scale (texture std, sheet step, ramp rise); from
            :data:`BACKGROUND_CONTRAST` when ``None``.

    Returns:
        :class:`ParticleScene` with a (H, W) uint8 image.

    Example:
        >>> scene = render_particle_scene(shape=(128, 128), n_particles=10, agglomerates=1)
        >>> scene.image.shape, scene.particles_xy.shape
        ((128, 128), (10, 2))
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")
    if not 0.0 <= touching_fraction <= 1.0 or agglomerates < 0:
        raise ValueError("touching_fraction must be in [0, 1] and agglomerates >= 0")
    layout_seq, background_seq, noise_seq = np.random.SeedSequence(seed).spawn(3)
    layout_rng = np.random.default_rng(layout_seq)
    diameters = SizeDistribution() if diameters is None else diameters
    style = RenderStyle() if style is None else style
    contrast = (
        BACKGROUND_CONTRAST[background] if background_contrast is None else background_contrast
    )

    group_sizes = _group_sizes(n_particles, touching_fraction, agglomerates, layout_rng)
    sizes_px = diameters.draw(n_particles, layout_rng)
    positions, group = _place_groups(shape, group_sizes, sizes_px, layout_rng)
    arrangement = np.select(
        [group_sizes[group] == 1, group_sizes[group] == 2],
        [Arrangement.ISOLATED, Arrangement.TOUCHING_PAIR],
        Arrangement.AGGLOMERATE,
    ).astype(np.int8)

    surface, sheet = _background(
        shape, background, contrast, pixel_size_nm, style, np.random.default_rng(background_seq)
    )
    rendered = render_on_surface(
        surface,
        positions,
        sizes_px / FWHM_PER_DIAMETER,
        style,
        np.random.default_rng(noise_seq),
        size_classes=None,
    )
    return ParticleScene(
        image=rendered.image,
        particles_xy=rendered.particles_xy,
        diameters_px=rendered.diameters_px,
        mask=rendered.mask,
        arrangement=arrangement,
        group=group,
        sheet_mask=sheet,
    )


def _group_sizes(
    n_particles: int, touching_fraction: float, agglomerates: int, rng: np.random.Generator
) -> np.ndarray:
    """(G,) particles per group: agglomerates (3-6) first, then pairs, then singles."""
    agglomerate_sizes = rng.integers(3, 7, agglomerates)
    n_pairs = round(touching_fraction * n_particles / 2)
    n_isolated = n_particles - 2 * n_pairs - int(agglomerate_sizes.sum())
    if n_isolated < 0:
        raise ValueError(
            f"{n_particles} particles are too few for {n_pairs} pairs and "
            f"{int(agglomerate_sizes.sum())} particles in agglomerates"
        )
    return np.concatenate(
        [agglomerate_sizes, np.full(n_pairs, 2), np.ones(n_isolated, np.int64)]
    ).astype(np.int64)


def _place_groups(
    shape: tuple[int, int], group_sizes: np.ndarray, sizes_px: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) centres x, y in px and (N,) group ids; groups placed at random without overlap."""
    radii = 0.5 * sizes_px
    group = np.repeat(np.arange(group_sizes.size), group_sizes)
    positions = np.zeros((sizes_px.size, 2))
    placed = np.zeros(sizes_px.size, bool)
    for g in range(group_sizes.size):
        members = np.flatnonzero(group == g)
        offsets = _group_layout(radii[members], rng)
        low = (radii[members, None] - offsets).max(axis=0)
        high = (np.array([shape[1] - 1, shape[0] - 1]) - radii[members, None] - offsets).min(axis=0)
        if np.any(low > high):
            raise ValueError(f"a group of {members.size} particles does not fit in a {shape} field")
        for _ in range(_PLACEMENT_TRIES):
            candidate = offsets + rng.uniform(low, high)
            distance = np.linalg.norm(candidate[:, None] - positions[None, placed], axis=-1)
            clearance = _GROUP_CLEARANCE * (radii[members, None] + radii[None, placed]) + 2.0
            if np.all(distance >= clearance):
                break
        else:
            raise ValueError(f"cannot place {sizes_px.size} particles in a {shape} field")
        positions[members] = candidate
        placed[members] = True
    return positions, group


def _group_layout(radii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(k, 2) centre offsets, px, of one group: single, touching pair or agglomerate."""
    offsets = np.zeros((radii.size, 2))
    if radii.size == 2:
        spacing = rng.uniform(1.0, 1.1) * radii.sum()
        angle = rng.uniform(0.0, 2.0 * np.pi)
        offsets[1] = spacing * np.array([np.cos(angle), np.sin(angle)])
    for i in range(2 if radii.size == 2 else 1, radii.size):
        # Grow the agglomerate: each particle against a random earlier one.
        for _ in range(_PLACEMENT_TRIES):
            j = rng.integers(0, i)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            spacing = rng.uniform(*_AGGLOMERATE_SPACING) * (radii[i] + radii[j])
            candidate = offsets[j] + spacing * np.array([np.cos(angle), np.sin(angle)])
            distance = np.linalg.norm(offsets[:i] - candidate, axis=1)
            if np.all(distance >= _AGGLOMERATE_MIN_SPACING * (radii[:i] + radii[i]) - 1e-9):
                offsets[i] = candidate
                break
        else:  # not reached: the outside of a cluster always has room
            raise RuntimeError("cannot grow the agglomerate")
    return offsets


def _background(
    shape: tuple[int, int],
    background: str,
    contrast: float,
    pixel_size_nm: float,
    style: RenderStyle,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 surface brightness and (H, W) bool sheet mask."""
    surface = carbon_surface(shape, style, rng)
    sheet = np.zeros(shape, bool)
    if background == "textured":
        surface += contrast * _band_limited_texture(shape, rng)
    elif background == "bright_sheet":
        step, band, sheet = _sheet(shape, pixel_size_nm, style, rng)
        surface += contrast * step + style.edge_brightness * band
    elif background == "graded":
        surface += contrast * (_ramp(shape, rng) - 0.5).astype(np.float32)
    return surface, sheet


def _band_limited_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 zero-mean, unit-std texture with its power at 2-10 px (particle scales)."""
    texture = np.zeros(shape, np.float32)
    for scale_px in (2.0, 5.0):
        # Each band: noise at the scale, less its own blur at 3x the scale.
        noise = smooth_noise(shape, scale_px, rng)
        texture += noise - cv2.GaussianBlur(noise, (0, 0), 3.0 * scale_px)
    return texture / max(float(texture.std()), 1e-6)


def _sheet(
    shape: tuple[int, int], pixel_size_nm: float, style: RenderStyle, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W) float32 step (0 off, 1 on the sheet), edge band (peak 1) and bool sheet mask.

    The sheet is one side of a wavy line at a random angle, covering 35-60 %
    of the frame.
    """
    rows, cols = np.indices(shape, np.float32)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    across = np.cos(angle) * cols + np.sin(angle) * rows
    across += np.float32(0.03 * max(shape)) * smooth_noise(shape, 0.25 * max(shape), rng)
    across -= np.quantile(across, rng.uniform(0.35, 0.6))
    sheet = across < 0
    step = 0.5 * (1.0 - np.tanh(across))  # an edge about 1 px wide
    sigma_px = max(0.7, 0.5 * style.edge_width_nm / pixel_size_nm)
    band = np.exp(-0.5 * (across / sigma_px) ** 2)
    return step.astype(np.float32), band.astype(np.float32), sheet


def _ramp(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W) brightness ramp from 0 to 1, rising along a direction within 30° of +x.

    The ramp is u ** p along the direction (u in [0, 1], p in [0.8, 1]): a
    smooth, slightly uneven grade, as from tilt or detector shadowing.
    """
    rows, cols = np.indices(shape, np.float64)
    angle = rng.uniform(-np.pi / 6, np.pi / 6)
    along = np.cos(angle) * cols + np.sin(angle) * rows
    along = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    return along ** rng.uniform(0.8, 1.0)

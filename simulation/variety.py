"""How widely synthetic images vary: the paper's look, or a wide one toward real micrographs.

A :class:`Look` is everything about one image that is drawn apart from its
class: the render style, the particle sizes and count, agglomerates, gaps
in the particle chains and the bit depth. :func:`draw_look` draws it from
its own generator, before anything that depends on the class, so that in a
data set brightness, texture, noise and particle size say nothing about
order; the class is carried by where the particles lie.

* ``"paper"``: the images of :func:`simulation.dataset.synthesize_image` as
  they always were (1-5 nm particles, :meth:`RenderStyle.random`, the
  paper's 1,500 / 1,000 particles, 8 bits).
* ``"wide"``: toward micrographs from many labs (Boiko et al. 2021 and
  others): :meth:`RenderStyle.wide` (dark to bright, smooth to rough
  supports, defocus, charging streaks, scan-line noise and jitter),
  particles of 2-10 nm around a drawn median with a drawn spread, a drawn
  particle count, a few agglomerates, particle chains with gaps, and 8-,
  12- or 16-bit output.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from simulation.acquisition import BIT_DEPTHS
from simulation.defectmaps import REFERENCE_SHAPE
from simulation.render import RenderStyle
from simulation.surface import SurfaceType, line_width_px

#: Names of the varieties :func:`draw_look` draws.
VARIETIES = ("paper", "wide")
#: Particles in an agglomerate: fewer than the 5 that make a point defect in
#: the paper's labels, so an agglomerate is no unlabelled defect.
AGGLOMERATE_SIZES = (3, 4)
#: Length of one gap in a particle chain, nm: longer than twice
#: :data:`simulation.visibility.DECORATION_REACH_NM`, so most gaps in grain
#: boundaries are left out of the labels, as a person tracing the line would.
GAP_LENGTH_NM = (15.0, 50.0)

_LINE_TYPES = (SurfaceType.SHEET_BORDER, SurfaceType.GRAIN_BOUNDARY)


@dataclass(frozen=True)
class Look:
    """What one image looks like apart from its class.

    Attributes:
        style: appearance; ``None``: :meth:`RenderStyle.random`, drawn by the
            renderer from its own generator (the paper variety, as before).
        median_nm: median particle diameter, nm.
        spread: standard deviation of ln(diameter).
        range_nm: (smallest, largest) particle diameter, nm.
        n_particles: particles deposited on a 1280 x 890 field (scaled to
            the field's area); ``None``: the paper's 1,500 on a defect map,
            1,000 on a smooth surface, whatever the field.
        agglomerates: agglomerates of :data:`AGGLOMERATE_SIZES` particles added.
        gap_fraction: share of the length of sheet borders and grain
            boundaries that binds no particles (gaps in the chains), [0, 1).
        bit_depth: significant bits of the image, one of :data:`BIT_DEPTHS`.
    """

    style: RenderStyle | None = None
    median_nm: float = 2.5
    spread: float = 0.3
    range_nm: tuple[float, float] = (1.0, 5.0)
    n_particles: int | None = None
    agglomerates: int = 0
    gap_fraction: float = 0.0
    bit_depth: int = 8

    @property
    def dtype(self) -> type[np.uint8] | type[np.uint16]:
        """``np.uint8`` for 8 bits, else ``np.uint16`` (12 bits stored as 0-4095)."""
        return np.uint8 if self.bit_depth <= 8 else np.uint16

    def particles_for(self, shape: tuple[int, int]) -> int | None:
        """Particles to deposit on a field of ``shape`` (H, W) px; ``None``: the paper's count."""
        if self.n_particles is None:
            return None
        area = shape[0] * shape[1] / (REFERENCE_SHAPE[0] * REFERENCE_SHAPE[1])
        return max(1, round(self.n_particles * area))


def draw_look(variety: str, rng: np.random.Generator) -> Look:
    """Draw the look of one image of ``variety`` (one of :data:`VARIETIES`).

    ``"paper"`` draws nothing. ``"wide"``: :meth:`RenderStyle.wide`; median
    diameter log-uniform in 2.5-7 nm, spread 0.1-0.4, clipped to 2-10 nm;
    500-2,000 particles a field, fewer for big particles (× (4 nm / median)²
    above 4 nm) so that coverage stays a few per cent; 0-5 agglomerates;
    gaps over 0-50 % of the chains; 8, 12 or 16 bits.
    """
    if variety == "paper":
        return Look()
    if variety != "wide":
        raise ValueError(f"unknown variety {variety!r}; expected one of {VARIETIES}")
    style = RenderStyle.wide(rng)
    median_nm = float(np.exp(rng.uniform(np.log(2.5), np.log(7.0))))
    return Look(
        style=style,
        median_nm=median_nm,
        spread=rng.uniform(0.1, 0.4),
        range_nm=(2.0, 10.0),
        n_particles=round(rng.uniform(500, 2000) * min(1.0, (4.0 / median_nm) ** 2)),
        agglomerates=int(rng.integers(0, 6)),
        gap_fraction=rng.uniform(0.0, 0.5),
        bit_depth=int(rng.choice(BIT_DEPTHS)),
    )


def add_agglomerates(
    positions_px: np.ndarray, state: np.ndarray, n_agglomerates: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stack 2-3 more particles on each of ``n_agglomerates`` particles on the surface.

    The stacks share their particle's pixel and state (on a defect or not);
    :func:`simulation.render.jitter_positions` spreads each stack into an
    agglomerate of particles about a diameter apart.

    Args:
        positions_px: (M, 2) integer-valued x, y of the particles on the surface, px.
        state: (M,) :class:`simulation.montecarlo.ParticleState` of each.
        n_agglomerates: agglomerates wanted (at most M).
        rng: random generator.

    Returns:
        (positions, state) with the added particles appended.
    """
    count = min(n_agglomerates, len(state))
    if count == 0:
        return positions_px, state
    cores = rng.choice(len(state), count, replace=False)
    sizes = rng.integers(AGGLOMERATE_SIZES[0], AGGLOMERATE_SIZES[1] + 1, count)
    added = np.repeat(cores, sizes - 1)
    return np.concatenate([positions_px, positions_px[added]]), np.concatenate(
        [state, state[added]]
    )


def decoration_gaps(
    surface: np.ndarray, gap_fraction: float, pixel_size_nm: float, rng: np.random.Generator
) -> np.ndarray:
    """A surface-type map whose sheet borders and grain boundaries bind no particles in gaps.

    Gaps of :data:`GAP_LENGTH_NM` are cut at random points of those lines
    (made pristine) until they cover about ``gap_fraction`` of their length;
    point defects and bends keep every pixel. The defect layers, and so the
    image's sheet edges, are not changed: only the particles miss the gaps.

    Args:
        surface: (H, W) uint8 map of :class:`simulation.surface.SurfaceType`; not modified.
        gap_fraction: share of the line length to cut, [0, 1).
        pixel_size_nm: nm per pixel.
        rng: random generator.

    Returns:
        (H, W) uint8 surface-type map.
    """
    on_line = np.isin(surface, _LINE_TYPES)
    line_px = np.flatnonzero(on_line)
    if gap_fraction <= 0 or line_px.size == 0:
        return surface
    length_px = line_px.size / max(1.0, line_width_px(pixel_size_nm))
    mean_gap_px = np.mean(GAP_LENGTH_NM) / pixel_size_nm
    n_gaps = rng.poisson(gap_fraction * length_px / mean_gap_px)
    gaps = np.zeros(surface.shape, np.uint8)
    for centre in rng.choice(line_px, n_gaps):
        y, x = divmod(int(centre), surface.shape[1])
        radius_px = round(0.5 * rng.uniform(*GAP_LENGTH_NM) / pixel_size_nm)
        cv2.circle(gaps, (x, y), max(1, radius_px), 1, -1)
    out = surface.copy()
    out[on_line & (gaps > 0)] = SurfaceType.PRISTINE
    return out

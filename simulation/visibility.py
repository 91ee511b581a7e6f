"""What an SEM image of a decorated surface shows: the labels a person could draw.

A defect map holds every defect of the simulated surface, but an image shows
only part of them (Boiko et al. 2021, "Defect segmentation"): sheet borders
are bright edges and topological defects shaded bends whether or not
particles sit on them, point defects are drawn as the particle agglomerates
that mark them, but grain boundaries are "invisible without particles". The
paper's masks were traced along particle lines, so the training labels of a
synthetic image keep a grain boundary only where a particle bound to a defect
lies within :data:`GRAIN_BOUNDARY_REACH_NM` of it; longer undecorated stretches
stay hidden, as they are on a real sample.
"""

import cv2
import numpy as np

from analysis.defects import GRAIN_BOUNDARY, channel
from simulation.montecarlo import ParticleState

#: A grain boundary pixel is labelled if a defect-bound particle lies this close, nm.
#: About three particle diameters: gaps up to twice this along a line are bridged,
#: as a person tracing a particle line bridges them.
GRAIN_BOUNDARY_REACH_NM = 10.0


def visible_layers(
    layers: np.ndarray,
    positions_px: np.ndarray,
    state: np.ndarray,
    pixel_size_nm: float,
    reach_nm: float = GRAIN_BOUNDARY_REACH_NM,
) -> np.ndarray:
    """Defect layers restricted to what the image shows (see module docstring).

    Args:
        layers: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order.
        positions_px: (M, 2) float x, y of the particles on the surface, px.
        state: (M,) :class:`simulation.montecarlo.ParticleState` of each particle.
        pixel_size_nm: nm per pixel.
        reach_nm: distance from a defect-bound particle within which a grain
            boundary is labelled, nm (> 0).

    Returns:
        (4, H, W) bool: ``layers`` with the grain-boundary layer cut to the
        pixels within ``reach_nm`` of a particle in state ``DEFECT``.

    Raises:
        ValueError: mismatched shapes or non-positive sizes.
    """
    layers = np.asarray(layers, bool)
    positions = np.asarray(positions_px, np.float64).reshape(-1, 2)
    state = np.asarray(state).reshape(-1)
    if layers.ndim != 3 or positions.shape[0] != state.shape[0]:
        raise ValueError(
            f"need (4, H, W) layers and one state per particle, got {layers.shape}, "
            f"{positions.shape[0]} positions and {state.shape[0]} states"
        )
    if pixel_size_nm <= 0 or reach_nm <= 0:
        raise ValueError("pixel_size_nm and reach_nm must be positive")
    height, width = layers.shape[1:]
    bound = np.round(positions[state == ParticleState.DEFECT]).astype(np.int64)
    x, y = bound[:, 0], bound[:, 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    seeds = np.zeros((height, width), np.uint8)
    seeds[y[inside], x[inside]] = 1
    radius = max(1, round(reach_nm / pixel_size_nm))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = layers.copy()
    grain = channel(GRAIN_BOUNDARY)
    out[grain] &= cv2.dilate(seeds, disk) > 0
    return out

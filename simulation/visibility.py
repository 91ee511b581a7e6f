"""What an SEM image of a decorated surface shows: the labels a person could draw.

A defect map holds every defect of the simulated surface, but an image shows
only part of them (Boiko et al. 2021, "Defect segmentation"). Sheet borders
are sharp bright edges and point defects are drawn as the particle
agglomerates that mark them, so both are visible as they are. Grain
boundaries are "invisible without particles", and a topological defect shows
only as a soft brightness gradient tens of nanometres wide whose axis the
particles on its concave part mark. The paper's masks were traced along
particle lines, so the training labels of a synthetic image keep these two
line classes only where a particle bound to a defect lies within
:data:`DECORATION_REACH_NM`; longer undecorated stretches stay hidden, as
they are on a real sample.
"""

import cv2
import numpy as np

from analysis.defects import GRAIN_BOUNDARY, TOPOLOGICAL_DEFECT, channel
from simulation.montecarlo import ParticleState

#: Line classes an image reveals only through the particles on them.
PARTICLE_REVEALED = (GRAIN_BOUNDARY, TOPOLOGICAL_DEFECT)
#: A line pixel of those classes is labelled if a defect-bound particle lies this
#: close, nm. About three particle diameters: gaps up to twice this along a line are
#: bridged, as a person tracing a particle line bridges them.
DECORATION_REACH_NM = 10.0


def visible_layers(
    layers: np.ndarray,
    positions_px: np.ndarray,
    state: np.ndarray,
    pixel_size_nm: float,
    reach_nm: float = DECORATION_REACH_NM,
) -> np.ndarray:
    """Defect layers restricted to what the image shows (see module docstring).

    Args:
        layers: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order.
        positions_px: (M, 2) float x, y of the particles on the surface, px.
        state: (M,) :class:`simulation.montecarlo.ParticleState` of each particle.
        pixel_size_nm: nm per pixel.
        reach_nm: distance from a defect-bound particle within which a line of
            :data:`PARTICLE_REVEALED` is labelled, nm (> 0).

    Returns:
        (4, H, W) bool: ``layers`` with the :data:`PARTICLE_REVEALED` layers cut
        to the pixels within ``reach_nm`` of a particle in state ``DEFECT``.

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
    decorated = cv2.dilate(seeds, disk) > 0
    out = layers.copy()
    for name in PARTICLE_REVEALED:
        out[channel(name)] &= decorated
    return out

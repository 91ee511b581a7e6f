"""Surface-type maps: the grid on which Monte Carlo particles adsorb and move.

A surface map is an (H, W) ``uint8`` array of :class:`SurfaceType` values, one
per pixel. It is made from a 4-layer defect mask (channel order
:data:`analysis.defects.DEFECT_CLASSES`) the way Boiko et al. (2021) prepared
their hand labels: each line layer is thinned to its centre line and dilated
so that its width is half a particle diameter, whatever the magnification.
"""

from enum import IntEnum

import cv2
import numpy as np
from skimage.morphology import skeletonize

from analysis.defects import DEFECT_CLASSES, LINE_CLASSES, channel


class SurfaceType(IntEnum):
    """Surface type of one pixel; a defect type is its defect channel + 1."""

    PRISTINE = 0
    SHEET_BORDER = 1
    GRAIN_BOUNDARY = 2
    TOPOLOGICAL_DEFECT = 3
    POINT_DEFECT = 4

    @property
    def key(self) -> str:
        """Lower-case name; equals the defect class name for defect types."""
        return self.name.lower()


#: Number of surface types (pristine + the four defect classes).
N_SURFACE_TYPES = len(SurfaceType)

# Where layers overlap, the type that binds a particle most strongly wins:
# sheet edges (-191 to -249 kcal/mol in the paper's xTB runs) over
# agglomeration sites, then the weaker line defects.
_PRECEDENCE = (
    SurfaceType.TOPOLOGICAL_DEFECT,
    SurfaceType.GRAIN_BOUNDARY,
    SurfaceType.POINT_DEFECT,
    SurfaceType.SHEET_BORDER,
)

assert all(SurfaceType(i + 1).key == name for i, name in enumerate(DEFECT_CLASSES))


def line_width_px(pixel_size_nm: float, particle_diameter_nm: float = 3.0) -> float:
    """Width of a line defect in pixels: half a particle diameter, as in the paper.

    Args:
        pixel_size_nm: image pixel size, nm per pixel (> 0).
        particle_diameter_nm: typical particle diameter, nm (> 0).
    """
    if pixel_size_nm <= 0 or particle_diameter_nm <= 0:
        raise ValueError("pixel_size_nm and particle_diameter_nm must be positive")
    return 0.5 * particle_diameter_nm / pixel_size_nm


def surface_from_layers(
    layers: np.ndarray, pixel_size_nm: float, particle_diameter_nm: float = 3.0
) -> np.ndarray:
    """Turn a 4-layer defect mask into a surface-type map.

    Line layers (:data:`analysis.defects.LINE_CLASSES`) are skeletonized and
    dilated with a disk to :func:`line_width_px`; lines one pixel wide are
    made 4-connected so that a diagonal (±1, ±1) shift cannot hop over them.
    Point defects keep their drawn area.

    Args:
        layers: (4, H, W) bool (or 0/nonzero) defect layers in
            ``DEFECT_CLASSES`` order.
        pixel_size_nm: nm per pixel of the mask.
        particle_diameter_nm: particle diameter in nm that sets the line width.

    Returns:
        (H, W) uint8 map of :class:`SurfaceType` values.

    Example:
        >>> layers = np.zeros((4, 5, 5), bool); layers[1, 2, :] = True
        >>> int(surface_from_layers(layers, pixel_size_nm=1.0)[2, 0])
        2
    """
    layers = np.asarray(layers)
    if layers.ndim != 3 or layers.shape[0] != len(DEFECT_CLASSES):
        raise ValueError(f"layers must be (4, H, W), got {layers.shape}")
    radius = max(0, round((line_width_px(pixel_size_nm, particle_diameter_nm) - 1.0) / 2.0))
    line_channels = {channel(name) for name in LINE_CLASSES}
    surface = np.zeros(layers.shape[1:], np.uint8)
    for surface_type in _PRECEDENCE:
        index = surface_type - 1
        layer = layers[index] != 0
        if index in line_channels:
            layer = _line_of_width(layer, radius)
        surface[layer] = surface_type
    return surface


def _line_of_width(layer: np.ndarray, radius: int) -> np.ndarray:
    """Re-draw a line layer as its skeleton dilated by a disk of ``radius`` px."""
    if not layer.any():
        return layer
    line = skeletonize(layer)
    if radius > 0:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(line.view(np.uint8), disk).astype(bool)
    return _four_connected(line)


def _four_connected(line: np.ndarray) -> np.ndarray:
    """Fill one corner of every diagonal-only step, so the line blocks 8-neighbour moves."""
    out = line.copy()
    a, b = line[:-1, :-1], line[:-1, 1:]
    c, d = line[1:, :-1], line[1:, 1:]
    out[:-1, 1:] |= a & d & ~b & ~c  # "\" step: fill the upper-right corner
    out[:-1, :-1] |= b & c & ~a & ~d  # "/" step: fill the upper-left corner
    return out

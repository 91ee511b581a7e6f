"""Procedural defect maps for synthetic data.

A :class:`DefectMap` holds the 4 ground-truth layers (channel order
:data:`analysis.defects.DEFECT_CLASSES`, thin lines as a person would draw
them) and the two fields the SEM renderer needs to draw what a microscope
shows of those defects: which stacked sheet is on top at each pixel (sheet
borders are the steps between sheets, bright in SEM) and a smooth height
field of the bends (topological defects, seen as soft brightness gradients).
Grain boundaries and point defects are invisible without particles.

* sheet borders: edges of overlapping random polygons (flakes);
* grain boundaries: part of the edges of a warped Voronoi tessellation;
* topological defects: the axes of smooth grooves in the height field;
* point defects: clusters of small disks, a few nm across.
"""

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from analysis.defects import DEFECT_CLASSES, channel

#: Reference field the default defect counts are given for, (H, W) px.
REFERENCE_SHAPE = (890, 1280)


@dataclass(frozen=True)
class DefectMap:
    """Ground truth and render fields of one synthetic surface.

    Attributes:
        layers: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order;
            line layers are 1 px wide.
        sheet_index: (H, W) int16 index of the top sheet at each pixel (0 = base plane).
        bend_height: (H, W) float32 smooth height of the bends, about [-1, 0]
            (0 = flat, -1 = bottom of a groove).
        pixel_size_nm: nm per pixel.
    """

    layers: np.ndarray
    sheet_index: np.ndarray
    bend_height: np.ndarray
    pixel_size_nm: float

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return self.layers.shape[1], self.layers.shape[2]


def smooth_defect_map(shape: tuple[int, int], pixel_size_nm: float) -> DefectMap:
    """A defect-free surface: empty layers, one sheet, no bends."""
    height, width = shape
    return DefectMap(
        layers=np.zeros((len(DEFECT_CLASSES), height, width), bool),
        sheet_index=np.zeros(shape, np.int16),
        bend_height=np.zeros(shape, np.float32),
        pixel_size_nm=pixel_size_nm,
    )


def defect_map_from_layers(layers: np.ndarray, pixel_size_nm: float) -> DefectMap:
    """A flat surface carrying given defect layers (e.g. a hand-drawn mask), for rendering.

    Args:
        layers: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order.
        pixel_size_nm: nm per pixel.
    """
    layers = np.asarray(layers, dtype=bool)
    if layers.ndim != 3 or layers.shape[0] != len(DEFECT_CLASSES):
        raise ValueError(f"layers must be ({len(DEFECT_CLASSES)}, H, W), got {layers.shape}")
    smooth = smooth_defect_map(layers.shape[1:], pixel_size_nm)
    return DefectMap(layers, smooth.sheet_index, smooth.bend_height, pixel_size_nm)


def generate_defect_map(
    shape: tuple[int, int],
    pixel_size_nm: float,
    rng: np.random.Generator,
    *,
    n_sheets: int | None = None,
    n_grains: int | None = None,
    n_bends: int | None = None,
    n_point_clusters: int | None = None,
) -> DefectMap:
    """Draw a random defective surface.

    Counts left as ``None`` are drawn from ``rng`` (scaled to the field area
    relative to 1280 x 890); without sheets and bends there is always a grain network.

    Args:
        shape: (H, W) in pixels.
        pixel_size_nm: nm per pixel; sets the size of point defects.
        rng: random generator; the same state gives the same map.
        n_sheets: overlapping flakes whose edges are sheet borders.
        n_grains: grains of the curvy grain-boundary network (< 2: no network).
        n_bends: grooves (topological defects).
        n_point_clusters: clusters of point defects.

    Returns:
        :class:`DefectMap`.
    """
    height, width = shape
    scale = height * width / (REFERENCE_SHAPE[0] * REFERENCE_SHAPE[1])
    if n_sheets is None:
        n_sheets = int(rng.integers(0, 4))
    if n_grains is None:
        n_grains = round(int(rng.integers(20, 250)) * scale)
    if n_bends is None:
        n_bends = int(rng.integers(0, 3))
    if n_point_clusters is None:
        n_point_clusters = round(int(rng.integers(0, 8)) * scale)
    if n_sheets + n_bends == 0:
        n_grains = max(n_grains, 2)

    layers = np.zeros((len(DEFECT_CLASSES), height, width), bool)
    sheet_index = _stacked_sheets(shape, n_sheets, rng)
    layers[channel("sheet_border")] = _sheet_borders(sheet_index)
    layers[channel("grain_boundary")] = _grain_boundaries(shape, n_grains, rng)
    bend_axes, bend_height = _bends(shape, n_bends, rng)
    layers[channel("topological_defect")] = bend_axes
    layers[channel("point_defect")] = _point_clusters(shape, n_point_clusters, pixel_size_nm, rng)
    return DefectMap(layers, sheet_index, bend_height, pixel_size_nm)


def generate_defect_layers(
    shape: tuple[int, int], pixel_size_nm: float, rng: np.random.Generator, **counts: int | None
) -> np.ndarray:
    """(4, H, W) bool layers of :func:`generate_defect_map` (same arguments)."""
    return generate_defect_map(shape, pixel_size_nm, rng, **counts).layers


def _stacked_sheets(shape: tuple[int, int], n_sheets: int, rng: np.random.Generator) -> np.ndarray:
    """Index of the top flake per pixel; flakes are big random polygons, later ones on top."""
    height, width = shape
    diagonal = float(np.hypot(height, width))
    index = np.zeros(shape, np.int16)
    for sheet in range(1, n_sheets + 1):
        # Centres may lie off the field so that flakes enter from the sides.
        centre = rng.uniform([-0.2 * width, -0.2 * height], [1.2 * width, 1.2 * height])
        n_vertices = int(rng.integers(4, 9))
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, n_vertices))
        radii = rng.uniform(0.25, 0.6) * diagonal * rng.uniform(0.7, 1.3, n_vertices)
        vertices = centre + radii[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
        layer = np.zeros(shape, np.uint8)
        cv2.fillPoly(layer, [np.round(vertices).astype(np.int32)], 1)
        index[layer > 0] = sheet
    return index


def _sheet_borders(sheet_index: np.ndarray) -> np.ndarray:
    """Step edges between sheets: the pixel of the upper sheet next to a lower one."""
    border = np.zeros(sheet_index.shape, bool)
    for axis in (0, 1):
        upper = np.diff(sheet_index, axis=axis)
        if axis == 0:
            border[1:, :] |= upper > 0
            border[:-1, :] |= upper < 0
        else:
            border[:, 1:] |= upper > 0
            border[:, :-1] |= upper < 0
    return border


def _grain_boundaries(
    shape: tuple[int, int], n_grains: int, rng: np.random.Generator
) -> np.ndarray:
    """Curvy grain network: edges of a warped Voronoi tessellation, a random part of them.

    Dropping some edges leaves open branches and junctions, as particle lines
    on real grain boundaries look; warping makes the straight Voronoi edges curvy.
    """
    if n_grains < 2:
        return np.zeros(shape, bool)
    height, width = shape
    seeds = np.ones(shape, np.uint8)
    seeds[rng.integers(0, height, n_grains), rng.integers(0, width, n_grains)] = 0
    _, grains = cv2.distanceTransformWithLabels(
        seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    grain_size_px = float(np.sqrt(height * width / n_grains))
    grains = _warped(grains, grain_size_px, rng)
    # One id per pair of neighbouring grains, so whole edges are kept or dropped.
    edge_id = np.zeros(shape, np.int64)
    for a, b, target in (
        (grains[:, 1:], grains[:, :-1], edge_id[:, 1:]),
        (grains[1:, :], grains[:-1, :], edge_id[1:, :]),
    ):
        differs = a != b
        target[differs] = (np.minimum(a, b) * (n_grains + 1) + np.maximum(a, b))[differs]
    edges = np.unique(edge_id[edge_id > 0])
    kept = edges[rng.random(edges.size) < rng.uniform(0.5, 0.9)]
    return np.isin(edge_id, kept)


def _warped(labels: np.ndarray, scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Resample ``labels`` through a smooth random displacement field (nearest neighbour).

    The field varies over ``scale_px`` and moves pixels by about a quarter of
    it: enough to bend edges, too little to fold the map into islands.
    """
    height, width = labels.shape
    amplitude_px = 0.25 * scale_px
    coarse = (int(height / scale_px) + 2, int(width / scale_px) + 2)
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    shift_x, shift_y = (
        cv2.resize(
            rng.normal(size=coarse).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        for _ in range(2)
    )
    return cv2.remap(
        labels.astype(np.float32),
        grid_x + amplitude_px * shift_x,
        grid_y + amplitude_px * shift_y,
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REFLECT,
    ).astype(np.int32)


def _bends(
    shape: tuple[int, int], n_bends: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Groove axes (1 px lines) and the smooth height of the grooves, in [-1, 0]."""
    height, width = shape
    axes = np.zeros(shape, np.uint8)
    depth = np.zeros(shape, np.float32)
    for _ in range(n_bends):
        start = rng.uniform([0.0, 0.0], [width, height])
        curve = _smooth_curve(start, rng.uniform(0, 2 * np.pi), width + height, 100.0, 0.004, rng)
        axis = np.zeros(shape, np.uint8)
        cv2.polylines(axis, [np.round(curve).astype(np.int32)], False, 1, 1, cv2.LINE_8)
        axes |= axis
        distance = cv2.distanceTransform(1 - axis, cv2.DIST_L2, 5)
        half_width_px = rng.uniform(20.0, 60.0)
        # A curve that misses the field leaves no axis pixel and "infinite" distances;
        # beyond ten half-widths the groove is zero anyway.
        scaled = np.minimum(distance / half_width_px, 10.0)
        groove = np.exp(-0.5 * scaled**2).astype(np.float32)
        depth = np.maximum(depth, rng.uniform(0.5, 1.0) * groove)
    return axes > 0, -depth


def _smooth_curve(
    start: np.ndarray,
    heading: float,
    length_px: int,
    smoothness_px: float,
    turn_rad_per_px: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(L, 2) x, y points of a unit-step curve whose heading wanders smoothly.

    Args:
        start: (2,) x, y start point, px.
        heading: initial direction, rad.
        length_px: number of 1 px steps.
        smoothness_px: correlation length of the heading changes, px.
        turn_rad_per_px: typical heading change per px, rad.
        rng: random generator.
    """
    turns = gaussian_filter1d(rng.normal(size=length_px), smoothness_px)
    # The filtered noise has a std of about 1 / sqrt(2 sqrt(pi) sigma); rescale it.
    turns *= turn_rad_per_px * np.sqrt(2.0 * np.sqrt(np.pi) * smoothness_px)
    theta = heading + np.cumsum(turns)
    steps = np.column_stack([np.cos(theta), np.sin(theta)])
    return start + np.cumsum(steps, axis=0)


def _point_clusters(
    shape: tuple[int, int], n_clusters: int, pixel_size_nm: float, rng: np.random.Generator
) -> np.ndarray:
    """Groups of 5-15 small disks (1-3 nm across) within ~30 nm of a centre."""
    height, width = shape
    canvas = np.zeros(shape, np.uint8)
    for _ in range(n_clusters):
        centre = rng.uniform([0.0, 0.0], [width, height])
        n_sites = int(rng.integers(8, 26))
        spread_px = max(2.0, 10.0 / pixel_size_nm)
        for site in centre + rng.normal(0.0, spread_px, (n_sites, 2)):
            radius_px = max(1, round(rng.uniform(0.5, 1.5) / pixel_size_nm))
            cv2.circle(canvas, (round(site[0]), round(site[1])), radius_px, 1, -1)
    return canvas > 0

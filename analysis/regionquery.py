"""The query vector of an image region: patch embeddings weighted by their overlap with it.

Square patches at known corners carry one unit vector each (:mod:`ml.embedder`).
A rectangle of the image is searched with the mean of the vectors of the
patches that overlap it, each weighted by its overlapping area, renormalised
to unit length (:func:`region_vector`). All positions and sizes are in
original image pixels.
"""

import numpy as np


def overlap_areas(
    patch_x_px: np.ndarray,
    patch_y_px: np.ndarray,
    patch_size_px: np.ndarray,
    region: tuple[float, float, float, float],
) -> np.ndarray:
    """Area of each square patch inside a rectangle.

    Args:
        patch_x_px: (N,) column of each patch's top-left corner, px.
        patch_y_px: (N,) row of each patch's top-left corner, px.
        patch_size_px: (N,) side of each patch, px, >= 0.
        region: ``(x_px, y_px, width_px, height_px)`` of the rectangle: its top-left
            corner and its size, px.

    Returns:
        (N,) float64 overlapping areas, px², 0 for a patch outside the rectangle.

    Example:
        >>> overlap_areas(np.array([0, 10]), np.array([0, 0]), np.array([10, 10]), (5, 5, 10, 10))
        array([25., 25.])
    """
    x = np.asarray(patch_x_px, dtype=np.float64)
    y = np.asarray(patch_y_px, dtype=np.float64)
    size = np.asarray(patch_size_px, dtype=np.float64)
    if not (x.ndim == 1 and x.shape == y.shape == size.shape):
        raise ValueError(
            f"expected three (N,) arrays of corners and sizes, got {x.shape}, {y.shape}, "
            f"{size.shape}"
        )
    left, top, width, height = (float(value) for value in region)
    across = np.minimum(x + size, left + width) - np.maximum(x, left)
    down = np.minimum(y + size, top + height) - np.maximum(y, top)
    return np.clip(across, 0.0, None) * np.clip(down, 0.0, None)


def region_vector(
    patch_x_px: np.ndarray,
    patch_y_px: np.ndarray,
    patch_size_px: np.ndarray,
    vectors: np.ndarray,
    region: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The overlap-weighted mean of the patch vectors under a rectangle, at unit length.

    Args:
        patch_x_px: (N,) column of each patch's top-left corner, px.
        patch_y_px: (N,) row of each patch's top-left corner, px.
        patch_size_px: (N,) side of each patch, px.
        vectors: (N, d) float vector of each patch.
        region: ``(x_px, y_px, width_px, height_px)`` of the rectangle, px.

    Returns:
        (d,) float64 unit vector, and (N,) bool mask of the patches that overlap
        the rectangle (positive area; touching edges do not count).

    Raises:
        ValueError: no patch overlaps the rectangle, the overlapping vectors cancel
            out (zero mean), or the arrays' shapes disagree.

    Example:
        >>> vector, under = region_vector(
        ...     np.array([0, 10]), np.array([0, 0]), np.array([10, 10]),
        ...     np.array([[1.0, 0.0], [0.0, 1.0]]), (0, 0, 12, 10))
        >>> vector.round(3).tolist(), under.tolist()
        ([0.981, 0.196], [True, True])
    """
    weights = overlap_areas(patch_x_px, patch_y_px, patch_size_px, region)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(weights):
        raise ValueError(f"expected ({len(weights)}, d) vectors, got shape {vectors.shape}")
    under = weights > 0
    if not under.any():
        raise ValueError("no embedded patch overlaps that region of the image")
    mean = (weights[:, None] * vectors).sum(axis=0, dtype=np.float64)
    norm = np.linalg.norm(mean)
    if norm == 0:
        raise ValueError("the patch vectors under that region of the image cancel out")
    return mean / norm, under

"""Principal component projection of vectors (PCA), with axes of a fixed orientation.

:func:`principal_components` projects (N, d) vectors (patch embeddings, for
the embedding map) on their first k principal axes with scikit-learn's
:class:`~sklearn.decomposition.PCA`. An eigenvector's sign is arbitrary, so
each axis is turned so that its largest-magnitude loading is positive: the
same data, in any row order, always gives the same picture.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA


@dataclass(frozen=True)
class Projection:
    """Points on their principal axes.

    Attributes:
        coordinates: (N, k) float64 coordinates along the first k principal axes, in the
            vectors' own units, centred on their mean.
        explained_variance_ratio: (k,) float64 share of the total variance along each
            axis, 0..1, in decreasing order (all 0 when every vector is the same).
    """

    coordinates: np.ndarray
    explained_variance_ratio: np.ndarray


def principal_components(vectors: np.ndarray, n_components: int = 2) -> Projection:
    """Project vectors on their first ``n_components`` principal axes (PCA).

    Each axis is oriented so that its largest-magnitude loading is positive.

    Args:
        vectors: (N, d) float, finite, N >= ``n_components``, d >= ``n_components``.
        n_components: axes kept, >= 1.

    Returns:
        :class:`Projection` with (N, n_components) coordinates.

    Raises:
        ValueError: not an (N, d) array, too few vectors or dimensions, or NaN / inf values.

    Example:
        >>> points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
        >>> principal_components(points, 1).coordinates.ravel().round(2).tolist()
        [-1.41, 0.0, 1.41]
    """
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"expected an (N, d) array of vectors, got shape {data.shape}")
    if n_components < 1:
        raise ValueError(f"n_components must be at least 1, got {n_components}")
    if min(data.shape) < n_components:
        raise ValueError(
            f"{n_components} principal components need at least {n_components} vectors "
            f"of at least {n_components} dimensions, got shape {data.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("vectors contain NaN or infinite values")
    # Eigenvectors of the (d, d) covariance: for N >> d several times faster than an SVD,
    # and exact (the "auto" solver turns randomised, and so seed-dependent, on large data).
    pca = PCA(n_components=n_components, svd_solver="covariance_eigh")
    # Identical vectors have no variance to share out: sklearn divides 0 by 0 there.
    with np.errstate(divide="ignore", invalid="ignore"):
        coordinates = pca.fit_transform(data)
    axes = pca.components_
    signs = np.sign(axes[np.arange(n_components), np.abs(axes).argmax(axis=1)])
    signs = np.where(signs == 0, 1.0, signs)
    ratio = np.nan_to_num(pca.explained_variance_ratio_, nan=0.0)
    return Projection(coordinates * signs, ratio)

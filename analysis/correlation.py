"""Pearson's r over pairwise-complete values (NaN where a value is missing).

:func:`pearson` correlates two variables over the entries where both are
finite; :func:`correlation_matrix` does so for every pair of columns of a
table, so each coefficient uses all the rows that have both of its values.
Fewer than :data:`MIN_PAIRS` such rows give NaN.
"""

import math

import numpy as np

#: Fewest rows with both values for a coefficient (two points always give r = ±1).
MIN_PAIRS = 3


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Pearson's r of the pairs where both values are finite.

    Args:
        x: (S,) float, NaN where missing.
        y: (S,) float, NaN where missing.

    Returns:
        (r in -1..1, n pairs used); r is NaN when n < :data:`MIN_PAIRS` or
        either variable is constant over those pairs.

    Raises:
        ValueError: ``x`` and ``y`` are not two (S,) arrays of the same length.

    Example:
        >>> pearson(np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 4.0, 6.5, 1.0]))[1]
        3
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two (S,) arrays of the same length, got {x.shape}, {y.shape}")
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    if n < MIN_PAIRS:
        return math.nan, n
    dx, dy = x[both] - x[both].mean(), y[both] - y[both].mean()
    norm = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if norm == 0:
        return math.nan, n
    return float(np.clip(dx @ dy / norm, -1.0, 1.0)), n


def correlation_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete Pearson r between the columns of ``values``.

    Args:
        values: (S, V) float, one row per observation (a sample), NaN where missing.

    Returns:
        (V, V) float64 r (symmetric; NaN as in :func:`pearson`) and (V, V) int64
        number of rows with both values (the diagonal counts each column's values).

    Raises:
        ValueError: ``values`` is not two-dimensional.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected an (S, V) array, got shape {values.shape}")
    count = values.shape[1]
    r = np.full((count, count), math.nan)
    n = np.zeros((count, count), dtype=np.int64)
    for i in range(count):
        for j in range(i, count):
            r[i, j], n[i, j] = pearson(values[:, i], values[:, j])
            r[j, i], n[j, i] = r[i, j], n[i, j]
    return r, n

"""Region query vectors: patch vectors weighted by their overlap with a rectangle."""

import numpy as np
import pytest

from analysis.regionquery import overlap_areas, region_vector

# Three 10-px patches along a row and one below the first: (x, y) corners.
X = np.array([0, 10, 20, 0])
Y = np.array([0, 0, 0, 10])
SIZE = np.array([10, 10, 10, 10])
VECTORS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]])


def test_overlap_areas_by_hand():
    # The rectangle x 5..15, y 2..12 covers 5×8 of patch 0, 5×8 of patch 1, 5×2 of patch 3.
    assert overlap_areas(X, Y, SIZE, (5, 2, 10, 10)).tolist() == [40.0, 40.0, 0.0, 10.0]
    # Touching an edge is no overlap.
    assert overlap_areas(X, Y, SIZE, (30, 0, 5, 5)).tolist() == [0.0] * 4


def test_the_vector_is_the_renormalised_area_weighted_mean():
    vector, under = region_vector(X, Y, SIZE, VECTORS, (5, 2, 10, 10))
    # 40·(1,0,0) + 40·(0,1,0) + 10·(0.6,0.8,0) = (46, 48, 0), of length √4420.
    assert vector == pytest.approx(np.array([46.0, 48.0, 0.0]) / np.sqrt(4420.0))
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert vector.shape == (3,)
    assert under.tolist() == [True, True, False, True]


def test_float32_vectors_give_the_same_direction():
    vector, _ = region_vector(X, Y, SIZE, VECTORS.astype(np.float32), (5, 2, 10, 10))
    assert vector.dtype == np.float64
    assert vector == pytest.approx(np.array([46.0, 48.0, 0.0]) / np.sqrt(4420.0), abs=1e-7)


def test_nothing_under_the_region_is_an_error():
    with pytest.raises(ValueError, match="no embedded patch overlaps"):
        region_vector(X, Y, SIZE, VECTORS, (100, 100, 5, 5))
    with pytest.raises(ValueError, match="no embedded patch overlaps"):
        region_vector(np.array([]), np.array([]), np.array([]), np.zeros((0, 0)), (0, 0, 5, 5))


def test_opposite_vectors_that_cancel_are_an_error():
    opposite = np.array([[1.0, 0.0], [-1.0, 0.0]])
    with pytest.raises(ValueError, match="cancel out"):
        region_vector(X[:2], Y[:2], SIZE[:2], opposite, (5, 0, 10, 10))


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(N,\) arrays"):
        overlap_areas(X, Y[:2], SIZE, (0, 0, 5, 5))
    with pytest.raises(ValueError, match=r"\(4, d\) vectors"):
        region_vector(X, Y, SIZE, VECTORS[:3], (0, 0, 5, 5))

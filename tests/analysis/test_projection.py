"""PCA of vectors: sklearn's projection, with each axis turned to a fixed sign."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from analysis.projection import principal_components


def _stretched_cloud(n: int = 200, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(4.0, 0.5, d) + rng.normal(size=d)


def test_it_equals_sklearns_projection_up_to_each_axis_sign():
    points = _stretched_cloud()
    projection = principal_components(points, 3)
    reference = PCA(n_components=3, svd_solver="full").fit(points)
    expected = reference.transform(points)
    signs = np.sign((projection.coordinates * expected).sum(axis=0))
    assert np.abs(signs).tolist() == [1.0, 1.0, 1.0]
    assert projection.coordinates == pytest.approx(expected * signs, abs=1e-9)
    assert projection.explained_variance_ratio == pytest.approx(
        reference.explained_variance_ratio_, abs=1e-12
    )
    assert projection.coordinates.shape == (200, 3)
    assert projection.coordinates.dtype == np.float64


def test_each_axis_points_along_its_largest_loading():
    points = _stretched_cloud(seed=1)
    projection = principal_components(points, 2)
    centred = points - points.mean(axis=0)
    # The loadings: least-squares axes that map the centred points onto their coordinates.
    axes, *_ = np.linalg.lstsq(projection.coordinates, centred, rcond=None)
    for axis in axes:
        assert axis[np.abs(axis).argmax()] > 0


def test_the_signs_hold_under_negation_and_reordering_of_the_points():
    points = _stretched_cloud(seed=2)
    projection = principal_components(points)
    order = np.random.default_rng(3).permutation(len(points))
    assert principal_components(points[order]).coordinates == pytest.approx(
        projection.coordinates[order], abs=1e-9
    )
    # -x has the same axes up to sign; the fixed orientation maps it to -coordinates.
    assert principal_components(-points).coordinates == pytest.approx(
        -projection.coordinates, abs=1e-9
    )


def test_identical_vectors_explain_no_variance():
    projection = principal_components(np.ones((5, 3)))
    assert projection.coordinates.tolist() == np.zeros((5, 2)).tolist()
    assert projection.explained_variance_ratio.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("vectors", "n_components", "message"),
    [
        (np.zeros(5), 2, "shape"),
        (np.zeros((1, 4)), 2, "at least 2 vectors"),
        (np.zeros((4, 1)), 2, "at least 2 dimensions"),
        (np.zeros((4, 3)), 0, "at least 1"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), 1, "NaN or infinite"),
    ],
)
def test_it_rejects_what_it_cannot_project(vectors, n_components, message):
    with pytest.raises(ValueError, match=message):
        principal_components(vectors, n_components)

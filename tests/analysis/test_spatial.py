import numpy as np
import pytest

from analysis.spatial import clark_evans


def test_random_points_give_one():
    rng = np.random.default_rng(0)
    for _ in range(5):
        points = rng.random((1000, 2)) * [1280, 890]
        assert 0.93 < clark_evans(points, 1280, 890) < 1.07


def test_edge_correction_removes_the_bias_of_small_samples():
    # Without the perimeter term, 30 random points in a square give R ≈ 1.08.
    rng = np.random.default_rng(1)
    ratios = [clark_evans(rng.random((30, 2)) * 100, 100, 100) for _ in range(400)]
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.03)


def test_square_lattice_is_regular():
    x, y = np.meshgrid(np.arange(5, 100, 10), np.arange(5, 100, 10))
    ratio = clark_evans(np.column_stack([x.ravel(), y.ravel()]), 100, 100)
    assert 1.8 < ratio < 2.15


def test_clusters_and_stacks_are_clustered():
    rng = np.random.default_rng(2)
    centres = rng.random((10, 2)) * 1000
    points = np.repeat(centres, 50, axis=0) + rng.normal(0, 2, (500, 2))
    assert clark_evans(np.clip(points, 0, 1000), 1000, 1000) < 0.3
    assert clark_evans(np.repeat(centres, 2, axis=0), 1000, 1000) == 0.0


def test_is_independent_of_the_unit():
    rng = np.random.default_rng(3)
    points = rng.random((200, 2)) * [300, 200]
    assert clark_evans(points * 2.5, 750, 500) == pytest.approx(clark_evans(points, 300, 200))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((1, 2)), "at least 2"),
        (np.zeros((5, 3)), r"\(N, 2\)"),
        (np.array([[0.0, 1.0], [np.nan, 2.0]]), "finite"),
    ],
)
def test_rejects_invalid_points(points, message):
    with pytest.raises(ValueError, match=message):
        clark_evans(points, 10, 10)

import numpy as np
import pytest

from analysis.spatial import clark_evans, nearest_neighbour_distances, ripley_l


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


# Ripley's L and nearest-neighbour distances.
FIELD = (1000.0, 700.0)
RADII = np.array([5.0, 10.0, 20.0, 50.0, 100.0, 175.0])


def _poisson(rng, n=800):
    return rng.random((n, 2)) * FIELD


def test_ripley_l_of_random_points_is_r():
    # For a Poisson pattern the standard deviation of L(r) - r at small r is
    # about sqrt(A / (2 pi)) / n (Ripley 1988), 0.42 here; 400 patterns measure
    # 0.39-0.47 for r <= 50. Four of those bound a single pattern.
    rng = np.random.default_rng(4)
    sd = np.sqrt(FIELD[0] * FIELD[1] / (2 * np.pi)) / 800
    for _ in range(5):
        l_values = ripley_l(_poisson(rng), *FIELD, RADII[:4])
        np.testing.assert_array_less(np.abs(l_values - RADII[:4]), 4 * sd)


def test_translation_correction_keeps_large_radii_unbiased():
    # Without edge weights, pairs cut by the border are lost: L(175) would read
    # about 9 % (16) short. The mean over 100 patterns has a standard error of
    # 0.15 (sd 1.5 at r = 175), so 0.6 is four of them.
    rng = np.random.default_rng(5)
    mean = np.mean([ripley_l(_poisson(rng), *FIELD, RADII) for _ in range(100)], axis=0)
    np.testing.assert_allclose(mean, RADII, atol=0.6)


def test_ripley_l_exceeds_r_for_clusters_and_falls_below_for_a_lattice():
    rng = np.random.default_rng(6)
    parents = rng.random((40, 2)) * FIELD
    children = np.repeat(parents, 20, axis=0) + rng.normal(0.0, 5.0, (800, 2))
    children = np.clip(children, 0.0, FIELD)
    clustered = ripley_l(children, *FIELD, RADII)
    # Thomas process: K(r) = pi r^2 + (1 - exp(-r^2 / (4 sigma^2))) / parent density,
    # so L(r) - r is 30 at r = 5 and still about 15 at r = 175.
    assert (clustered > RADII + 5).all()
    assert clustered[0] > 5 * RADII[0]
    x, y = np.meshgrid(np.arange(5.0, 1000.0, 10.0), np.arange(5.0, 700.0, 10.0))
    lattice = ripley_l(np.column_stack([x.ravel(), y.ravel()]), *FIELD, [5.0, 9.0])
    np.testing.assert_array_equal(lattice, [0.0, 0.0])


def test_ripley_l_is_independent_of_the_unit():
    points = _poisson(np.random.default_rng(7), 300)
    in_px = ripley_l(points, *FIELD, [10.0, 40.0])
    in_nm = ripley_l(points * 2.5, FIELD[0] * 2.5, FIELD[1] * 2.5, [25.0, 100.0])
    np.testing.assert_allclose(in_nm, in_px * 2.5)


@pytest.mark.parametrize(
    ("radii", "message"),
    [([], "non-empty"), ([0.0, 5.0], r"\(0, 175\]"), ([200.0], r"\(0, 175\]")],
)
def test_ripley_l_rejects_radii_the_field_cannot_support(radii, message):
    with pytest.raises(ValueError, match=message):
        ripley_l(_poisson(np.random.default_rng(8), 50), *FIELD, radii)


def test_ripley_l_and_nearest_neighbours_reject_invalid_points():
    with pytest.raises(ValueError, match="at least 2"):
        ripley_l(np.zeros((1, 2)), 10, 10, [1.0])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        nearest_neighbour_distances(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        nearest_neighbour_distances(np.array([[0.0, 1.0], [np.inf, 2.0]]))


def test_nearest_neighbour_distances_of_a_lattice_and_of_a_stack():
    x, y = np.meshgrid(np.arange(0.0, 50.0, 10.0), np.arange(0.0, 30.0, 10.0))
    lattice = np.column_stack([x.ravel(), y.ravel()])
    np.testing.assert_allclose(nearest_neighbour_distances(lattice), 10.0)
    stacked = nearest_neighbour_distances(np.array([[1.0, 1.0], [1.0, 1.0], [9.0, 9.0]]))
    np.testing.assert_allclose(stacked, [0.0, 0.0, np.hypot(8, 8)])

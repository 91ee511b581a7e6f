"""match_particles and score_particles: detections matched one to one to hand labels, and scored."""

import doctest
import json

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from analysis import particlescore
from analysis.particlescore import (
    MIN_MATCHING_RADIUS_PX,
    match_particles,
    matching_radius_px,
    score_particles,
)

# Three true particles of 6 px (radius 3 px) and four detections: D0 lies
# 2 px from T0 and 2.5 px from T1, D1 2.5 px from T0 only, D2 1 px from T2,
# D3 nowhere near.
TRUTH_XY = np.array([[10.0, 10.0], [14.5, 10.0], [30.0, 30.0]])
TRUTH_D = np.full(3, 6.0)
DETECTED_XY = np.array([[12.0, 10.0], [7.5, 10.0], [30.0, 31.0], [50.0, 50.0]])


def _nearest_first(detected, truth, radius):
    """Greedy matching: the closest remaining pair first, the usual shortcut."""
    distance = np.linalg.norm(detected[:, None] - truth[None], axis=-1)
    pairs = sorted(zip(*np.nonzero(distance <= radius), strict=True), key=lambda p: distance[p])
    used_d, used_t = set(), set()
    for d, t in pairs:
        if d not in used_d and t not in used_t:
            used_d.add(d)
            used_t.add(t)
    return len(used_d)


def test_optimal_matching_gives_the_contested_particle_to_the_detection_with_no_other():
    found = match_particles(DETECTED_XY, TRUTH_XY, TRUTH_D)
    assert found.max_distance_px == 3.0
    assert found.detected_index.tolist() == [0, 1, 2]
    assert found.truth_index.tolist() == [1, 0, 2]
    np.testing.assert_allclose(found.distances_px, [2.5, 2.5, 1.0])
    assert (found.true_positives, found.false_positives, found.false_negatives) == (3, 1, 0)
    assert found.unmatched_detected().tolist() == [3]
    assert found.unmatched_truth().tolist() == []
    assert _nearest_first(DETECTED_XY, TRUTH_XY, 3.0) == 2


def test_scores_of_the_contested_case():
    score = score_particles(DETECTED_XY, np.array([6.6, 5.4, 6.0, 9.0]), TRUTH_XY, TRUTH_D)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (3, 1, 0)
    assert score.precision == 0.75
    assert score.recall == 1.0
    assert score.f1 == pytest.approx(6 / 7)
    assert score.count_error == pytest.approx(1 / 3)
    # Matched pairs: D0 (6.6) with T1, D1 (5.4) with T0, D2 (6.0) with T2.
    assert score.median_size_error == pytest.approx(0.0)
    assert score.median_distance_px == 2.5


def test_count_and_size_errors_are_signed_fractions():
    truth = np.array([[0.0, 0.0], [20.0, 0.0], [40.0, 0.0], [60.0, 0.0]])
    detected = np.array([[0.5, 0.0], [20.0, 1.0], [41.5, 0.0], [80.0, 0.0], [90.0, 0.0]])
    score = score_particles(detected, np.array([5.5, 4.5, 6.0, 5.0, 5.0]), truth, np.full(4, 5.0))
    assert (score.true_positives, score.false_positives, score.false_negatives) == (3, 2, 1)
    assert score.count_error == pytest.approx(0.25)  # 5 found for 4
    assert score.median_size_error == pytest.approx(0.1)  # +10 %, -10 %, +20 %
    assert score.median_distance_px == pytest.approx(1.0)  # 0.5, 1, 1.5
    fewer = score_particles(detected[:2], np.array([5.0, 5.0]), truth, np.full(4, 5.0))
    assert fewer.count_error == pytest.approx(-0.5)


def test_radius_is_half_the_median_true_diameter_but_at_least_three_px():
    assert matching_radius_px(np.array([4.0, 10.0, 12.0])) == 5.0
    assert matching_radius_px(np.array([2.0, 3.0, 4.0])) == MIN_MATCHING_RADIUS_PX
    assert matching_radius_px(np.array([])) == MIN_MATCHING_RADIUS_PX
    truth = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    diameters = np.array([4.0, 10.0, 12.0])
    near = match_particles(np.array([[4.9, 0.0], [105.1, 0.0], [200.0, 3.0]]), truth, diameters)
    assert near.max_distance_px == 5.0
    assert near.truth_index.tolist() == [0, 2]


def test_a_pair_exactly_at_the_radius_matches():
    found = match_particles(np.array([[3.0, 0.0]]), np.zeros((1, 2)), np.array([2.0]))
    assert found.true_positives == 1
    assert found.distances_px.tolist() == [3.0]


def test_a_given_radius_replaces_the_default():
    found = match_particles(DETECTED_XY, TRUTH_XY, TRUTH_D, max_distance_px=1.5)
    assert found.max_distance_px == 1.5
    assert list(zip(found.detected_index, found.truth_index, strict=True)) == [(2, 2)]
    wide = match_particles(DETECTED_XY, TRUTH_XY, TRUTH_D, max_distance_px=100.0)
    assert wide.true_positives == 3


def test_nothing_to_find_and_nothing_found_is_perfect():
    score = score_particles(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0))
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (0, 0, 0)
    assert score.count_error is None
    assert score.median_size_error is None
    assert score.median_distance_px is None
    assert score.max_distance_px == MIN_MATCHING_RADIUS_PX


def test_detections_on_an_unlabelled_image_score_zero():
    score = score_particles(DETECTED_XY, np.full(4, 5.0), np.zeros((0, 2)), [])
    assert (score.true_positives, score.false_positives, score.false_negatives) == (0, 4, 0)
    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)
    assert score.count_error is None


def test_finding_nothing_on_a_labelled_image_scores_zero():
    score = score_particles([], [], TRUTH_XY, TRUTH_D)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (0, 0, 3)
    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)
    assert score.count_error == -1.0
    assert score.median_size_error is None


def test_as_dict_is_json():
    score = score_particles(DETECTED_XY, np.full(4, 6.0), TRUTH_XY, TRUTH_D)
    stored = json.loads(json.dumps(score.as_dict()))
    assert stored == {
        "true_positives": 3,
        "false_positives": 1,
        "false_negatives": 0,
        "precision": 0.75,
        "recall": 1.0,
        "f1": pytest.approx(6 / 7),
        "count_error": pytest.approx(1 / 3),
        "median_size_error": 0.0,
        "median_distance_px": 2.5,
        "max_distance_px": 3.0,
    }
    assert all(type(v) in (int, float) for v in score.as_dict().values())


def test_tens_of_thousands_of_particles_match_without_a_dense_matrix():
    rng = np.random.default_rng(4)
    side = 150
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)
    truth = grid * 8.0 + 4.0  # 22,500 particles 8 px apart
    detected = truth + rng.normal(0.0, 0.5, truth.shape)
    found = match_particles(detected[::-1], truth, np.full(len(truth), 6.0))
    assert found.true_positives == len(truth)
    np.testing.assert_array_equal(found.truth_index, np.arange(len(truth))[::-1])


def test_a_component_too_large_to_solve_is_refused(monkeypatch):
    monkeypatch.setattr(particlescore, "MAX_COMPONENT_CELLS", 15)
    points = np.arange(8.0).repeat(2).reshape(-1, 2)
    with pytest.raises(ValueError, match="give a smaller max_distance_px"):
        match_particles(points, points[:4], np.full(4, 5.0), max_distance_px=50.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0, 2.0], TRUTH_XY, TRUTH_D), r"detected_xy must have shape \(N, 2\)"),
        ((DETECTED_XY, TRUTH_XY[:, :1], TRUTH_D), r"truth_xy must have shape \(N, 2\)"),
        ((DETECTED_XY, TRUTH_XY, TRUTH_D[:2]), r"truth_diameters_px must have shape \(3,\)"),
        ((DETECTED_XY, TRUTH_XY, -TRUTH_D), "truth_diameters_px must be positive"),
        (([[np.nan, 0.0]], TRUTH_XY, TRUTH_D), "detected_xy holds values that are not finite"),
        ((DETECTED_XY, TRUTH_XY, TRUTH_D, 0.0), "max_distance_px must be a positive"),
    ],
)
def test_bad_inputs_say_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        match_particles(*args)


def test_detected_diameters_must_match_the_detections():
    with pytest.raises(ValueError, match=r"detected_diameters_px must have shape \(4,\)"):
        score_particles(DETECTED_XY, np.ones(3), TRUTH_XY, TRUTH_D)


def test_the_docstring_examples_run():
    assert doctest.testmod(particlescore).failed == 0


def _points(max_size):
    # Whole-pixel coordinates on a small field give ties, shared candidates
    # and pairs exactly at the radius.
    return hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, max_size), st.just(2)),
        elements=st.integers(0, 24).map(float),
    )


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    detected=_points(25),
    truth=_points(25),
    diameter_steps=st.lists(st.integers(1, 20), min_size=1, max_size=25),
)
def test_random_points_match_as_the_dense_optimum_does(detected, truth, diameter_steps):
    diameters = np.resize(np.array(diameter_steps, np.float64) * 0.5, len(truth))
    found = match_particles(detected, truth, diameters)
    radius = found.max_distance_px
    assert found.true_positives <= min(len(detected), len(truth))
    assert np.all(found.distances_px <= radius)
    assert np.unique(found.detected_index).size == found.true_positives
    assert np.unique(found.truth_index).size == found.true_positives
    if found.true_positives:
        pair_distance = np.linalg.norm(
            detected[found.detected_index] - truth[found.truth_index], axis=1
        )
        np.testing.assert_allclose(found.distances_px, pair_distance)

    # The roles swapped, the same radius: as many pairs at the same total distance.
    swapped = match_particles(truth, detected, np.ones(len(detected)), max_distance_px=radius)
    assert swapped.true_positives == found.true_positives
    assert swapped.distances_px.sum() == pytest.approx(found.distances_px.sum())

    # The most pairs possible, and the least total distance among such matchings.
    if len(detected) and len(truth):
        distance = np.linalg.norm(detected[:, None] - truth[None], axis=-1)
        within = distance <= radius
        most = (maximum_bipartite_matching(csr_matrix(within)) >= 0).sum()
        assert found.true_positives == most
        cost = np.where(within, distance, 1e6)
        rows, cols = linear_sum_assignment(cost)
        best = cost[rows, cols][within[rows, cols]].sum()
        assert found.distances_px.sum() == pytest.approx(best)

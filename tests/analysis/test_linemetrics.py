import math

import cv2
import numpy as np
import pytest

from analysis.linemetrics import TOLERANCE_PX, LineMatch, LineScores, match_lines

SHAPE = (120, 160)


def _line(start, end, thickness=1, shape=SHAPE):
    """(H, W) bool mask of a segment from ``start`` to ``end`` ((x, y) px)."""
    canvas = np.zeros(shape, np.uint8)
    cv2.line(canvas, start, end, 1, thickness=thickness)
    return canvas.astype(bool)


def _iou(a, b):
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_a_line_one_pixel_off_is_a_hit_that_iou_calls_a_miss():
    truth = _line((20, 60), (140, 60))
    shifted = _line((20, 61), (140, 61))
    match = match_lines(shifted, truth)
    assert _iou(shifted, truth) == 0.0
    assert (match.precision, match.recall, match.f1) == (1.0, 1.0, 1.0)
    assert match.length_error == pytest.approx(0.0, abs=1e-9)


def test_a_two_pixel_line_one_pixel_off_keeps_f1_and_length():
    truth = _line((20, 60), (140, 60), thickness=2)
    shifted = np.roll(truth, 1, axis=0)
    match = match_lines(shifted, truth)
    assert _iou(shifted, truth) < 0.5
    assert match.f1 == 1.0
    assert abs(match.length_error) < 0.02


def test_a_line_four_pixels_off_is_a_miss():
    truth = _line((20, 60), (140, 60))
    match = match_lines(_line((20, 64), (140, 64)), truth)
    assert (match.predicted_matched_px, match.true_matched_px) == (0, 0)
    assert match.f1 == 0.0
    # The length is right even though the line is in the wrong place.
    assert match.length_error == pytest.approx(0.0, abs=1e-9)


def test_the_tolerance_is_inclusive_at_two_pixels():
    truth = _line((20, 60), (140, 60))
    assert TOLERANCE_PX == 2.0
    assert match_lines(_line((20, 62), (140, 62)), truth).f1 == 1.0
    assert match_lines(_line((20, 63), (140, 63)), truth).f1 == 0.0
    assert match_lines(_line((20, 63), (140, 63)), truth, tolerance_px=3.0).f1 == 1.0


def test_half_a_line_has_half_the_recall_and_half_the_length():
    truth = _line((20, 60), (140, 60))  # 121 px
    half = _line((20, 60), (80, 60))  # 61 px, on the truth
    match = match_lines(half, truth)
    assert match.precision == 1.0
    # 61 px on the half line and 2 px of tolerance beyond its end.
    assert match.recall == pytest.approx(63 / 121)
    assert match.f1 == pytest.approx(2 * (63 / 121) / (1 + 63 / 121))
    assert match.length_error == pytest.approx(-0.5, abs=0.01)


@pytest.mark.parametrize(("end", "shift"), [((130, 110), (1, 0)), ((140, 70), (0, 1))])
def test_diagonal_lines_one_pixel_off_are_hits(end, shift):
    # 45 degrees, and about 27 degrees (a staircase line).
    truth = _line((20, 10), end, thickness=2)
    shifted = _line((20 + shift[0], 10 + shift[1]), (end[0] + shift[0], end[1] + shift[1]), 2)
    match = match_lines(shifted, truth)
    assert match.f1 == 1.0
    assert abs(match.length_error) < 0.02


def test_a_diagonal_line_far_off_is_a_miss():
    truth = _line((20, 10), (130, 120))
    # Five pixels right of a 45 degree line: 5 / sqrt(2) = 3.5 px away.
    far = _line((25, 10), (135, 120))
    assert match_lines(far, truth).f1 == 0.0


def test_empty_masks_follow_the_documented_rules():
    empty = np.zeros(SHAPE, bool)
    line = _line((20, 60), (140, 60))

    both = match_lines(empty, empty)
    assert (both.precision, both.recall, both.f1, both.length_error) == (1.0, 1.0, 1.0, 0.0)

    missed = match_lines(empty, line)
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    assert missed.length_error == -1.0

    invented = match_lines(line, empty)
    assert (invented.precision, invented.recall, invented.f1) == (0.0, 1.0, 0.0)
    assert math.isnan(invented.length_error)


def test_masks_of_other_shapes_or_types_are_refused():
    line = _line((20, 60), (140, 60))
    with pytest.raises(ValueError, match="both be"):
        match_lines(line, line[:-1])
    with pytest.raises(ValueError, match="bool"):
        match_lines(line.astype(np.uint8), line)


def _stack(*layers):
    """(4, H, W) stack: the given line layers first, empty layers after."""
    out = np.zeros((4, *SHAPE), bool)
    for index, layer in enumerate(layers):
        out[index] = layer
    return out


def test_pooled_scores_sum_the_counts_of_every_image():
    truth_line = _line((20, 60), (140, 60))  # 121 px
    scores = LineScores()
    # Image 1: the sheet border half found, and a false 31 px grain boundary.
    scores.update(_stack(_line((20, 60), (80, 60)), _line((20, 20), (50, 20))), _stack(truth_line))
    # Image 2: the sheet border exactly.
    scores.update(_stack(truth_line), _stack(truth_line))

    border = scores.pooled("sheet_border")
    assert (border.predicted_px, border.predicted_matched_px) == (61 + 121, 61 + 121)
    assert (border.true_px, border.true_matched_px) == (242, 63 + 121)
    recall = 184 / 242
    assert scores.f1()["sheet_border"] == pytest.approx(2 * recall / (1 + recall))
    # Per image, not pooled: |-0.5| and 0, median 0.25.
    errors = scores.length_errors("sheet_border")
    assert errors[0] == pytest.approx(-0.5, abs=0.01)
    assert errors[1] == pytest.approx(0.0, abs=1e-9)
    assert scores.median_abs_length_error()["sheet_border"] == pytest.approx(0.25, abs=0.005)

    # Grain boundaries: 31 false pixels, nothing true; no image shows them.
    assert scores.f1()["grain_boundary"] == 0.0
    assert math.isnan(scores.length_errors("grain_boundary")[0])
    assert scores.length_errors("grain_boundary")[1] == 0.0
    assert math.isnan(scores.median_abs_length_error()["grain_boundary"])
    # Topological defects: absent everywhere, so undefined rather than perfect.
    assert math.isnan(scores.f1()["topological_defect"])


def test_pooled_f1_weighs_pixels_not_images():
    scores = LineScores()
    scores.add("sheet_border", LineMatch(10, 0, 10, 0, 10.0, 10.0))  # a short miss
    scores.add("sheet_border", LineMatch(90, 90, 90, 90, 90.0, 90.0))  # a long hit
    assert scores.f1()["sheet_border"] == pytest.approx(0.9)  # per-image mean would be 0.5

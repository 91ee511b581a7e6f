"""Line-defect masks compared the way users read them: on their skeletons, with a tolerance.

Line defects are 1-2 px wide at a segmenter's scale, so strict IoU scores a
line drawn one pixel off as a miss. Users read the skeleton instead: where
the lines run and how long they are (:mod:`analysis.linestats`). Here a
predicted and a true mask of one line class are both thinned
(scikit-image ``skeletonize``) and matched with a tolerance, as boundary
benchmarks do:

* a predicted skeleton pixel is matched if a true skeleton pixel lies within
  ``tolerance_px`` (Euclidean, from a distance transform): precision is the
  matched share of the predicted skeleton;
* a true skeleton pixel is matched if a predicted one lies within the
  tolerance: recall is the matched share of the true skeleton;
* F1 = 2 P R / (P + R);
* the relative length error is (predicted - true) / true of the skeleton
  lengths of :func:`analysis.linestats.line_statistics` (px).

Empty masks, explicitly: nothing predicted gives precision 1 (no wrong
pixel), nothing true gives recall 1 (nothing missed). So both empty is
F1 = 1 and length error 0; one of them empty is F1 = 0. A prediction where
the truth has no line (true length 0) has an undefined relative length
error, NaN, not inf: its false pixels already cost precision, and a NaN is
left out of medians instead of swamping means.

:class:`LineScores` pools images, per line class: precision and recall
from the summed pixel counts (so a long line weighs more than a short one,
and images without lines do not count as perfect), and the per-image
length errors.

Example:
    >>> truth = np.zeros((20, 40), bool); truth[10, 5:35] = True
    >>> match = match_lines(np.roll(truth, 1, axis=0), truth)  # one pixel off
    >>> match.f1, round(match.length_error, 3)
    (1.0, 0.0)
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from analysis.defects import LINE_CLASSES, channel
from analysis.linestats import line_statistics

#: Distance within which a skeleton pixel matches the other skeleton, px.
TOLERANCE_PX = 2.0


@dataclass(frozen=True)
class LineMatch:
    """Tolerant comparison of one predicted and one true line mask.

    Attributes:
        predicted_px: pixels of the predicted skeleton.
        predicted_matched_px: of those, within the tolerance of the true skeleton.
        true_px: pixels of the true skeleton.
        true_matched_px: of those, within the tolerance of the predicted skeleton.
        predicted_length_px: length of the predicted skeleton, px.
        true_length_px: length of the true skeleton, px.
    """

    predicted_px: int
    predicted_matched_px: int
    true_px: int
    true_matched_px: int
    predicted_length_px: float
    true_length_px: float

    @property
    def precision(self) -> float:
        """Matched share of the predicted skeleton, 0..1 (1 when nothing is predicted)."""
        return self.predicted_matched_px / self.predicted_px if self.predicted_px else 1.0

    @property
    def recall(self) -> float:
        """Matched share of the true skeleton, 0..1 (1 when nothing is true)."""
        return self.true_matched_px / self.true_px if self.true_px else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall, 0..1."""
        total = self.precision + self.recall
        return 2.0 * self.precision * self.recall / total if total else 0.0

    @property
    def length_error(self) -> float:
        """(predicted - true) / true skeleton length, >= -1; 0 if both are 0, NaN if true is."""
        if self.true_length_px > 0:
            return (self.predicted_length_px - self.true_length_px) / self.true_length_px
        return 0.0 if self.predicted_length_px == 0 else float("nan")


def match_lines(
    predicted: np.ndarray, truth: np.ndarray, tolerance_px: float = TOLERANCE_PX
) -> LineMatch:
    """Compare a predicted and a true mask of one line class on their skeletons.

    Args:
        predicted: (H, W) bool predicted mask.
        truth: (H, W) bool true mask.
        tolerance_px: largest distance at which skeleton pixels match, px (>= 0).

    Returns:
        :class:`LineMatch` with the pixel counts and lengths.

    Raises:
        ValueError: the masks are not (H, W) bool arrays of one shape, or the tolerance is < 0.
    """
    if predicted.shape != truth.shape or predicted.ndim != 2:
        raise ValueError(f"masks must both be (H, W): {predicted.shape}, {truth.shape}")
    if predicted.dtype != bool or truth.dtype != bool:
        raise ValueError(f"masks must be bool, got {predicted.dtype} and {truth.dtype}")
    if tolerance_px < 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    predicted_skeleton, true_skeleton = skeletonize(predicted), skeletonize(truth)
    return LineMatch(
        predicted_px=int(np.count_nonzero(predicted_skeleton)),
        predicted_matched_px=_matched(predicted_skeleton, true_skeleton, tolerance_px),
        true_px=int(np.count_nonzero(true_skeleton)),
        true_matched_px=_matched(true_skeleton, predicted_skeleton, tolerance_px),
        predicted_length_px=_length_px(predicted),
        true_length_px=_length_px(truth),
    )


def _matched(skeleton: np.ndarray, other: np.ndarray, tolerance_px: float) -> int:
    """Pixels of ``skeleton`` within ``tolerance_px`` of a pixel of ``other`` (both (H, W) bool)."""
    if not skeleton.any() or not other.any():
        return 0
    distance = ndimage.distance_transform_edt(~other)
    return int(np.count_nonzero(distance[skeleton] <= tolerance_px))


def _length_px(mask: np.ndarray) -> float:
    return line_statistics(mask, pixel_size_nm=1.0).skeleton_length_nm if mask.any() else 0.0


class LineScores:
    """Line matches of many images, pooled per line class.

    Example:
        >>> scores = LineScores()
        >>> truth = np.zeros((4, 20, 40), bool); truth[0, 10, 5:35] = True
        >>> scores.update(truth, truth)
        >>> scores.f1()["sheet_border"], scores.median_abs_length_error()["sheet_border"]
        (1.0, 0.0)
    """

    def __init__(self, tolerance_px: float = TOLERANCE_PX) -> None:
        self.tolerance_px = tolerance_px
        #: One :class:`LineMatch` per image and line class, in the order added.
        self.matches: dict[str, list[LineMatch]] = {name: [] for name in LINE_CLASSES}

    def update(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Add one image: (4, H, W) predicted and true layers (bool or 0/1) in channel order."""
        for name in LINE_CLASSES:
            index = channel(name)
            self.add(name, match_lines(predicted[index] != 0, truth[index] != 0, self.tolerance_px))

    def add(self, name: str, match: LineMatch) -> None:
        """Add one image's :class:`LineMatch` of line class ``name``."""
        self.matches[name].append(match)

    def pooled(self, name: str) -> LineMatch:
        """The summed counts and lengths of class ``name`` over all images."""
        matches = self.matches[name]
        return LineMatch(
            predicted_px=sum(m.predicted_px for m in matches),
            predicted_matched_px=sum(m.predicted_matched_px for m in matches),
            true_px=sum(m.true_px for m in matches),
            true_matched_px=sum(m.true_matched_px for m in matches),
            predicted_length_px=sum(m.predicted_length_px for m in matches),
            true_length_px=sum(m.true_length_px for m in matches),
        )

    def f1(self) -> dict[str, float]:
        """Pooled F1 per line class; NaN for a class with no skeleton pixel in any image.

        NaN rather than 1, as :class:`ml.metrics.IoUCounter` does: a set of images
        without the class says nothing about how it is found.
        """
        out = {}
        for name in LINE_CLASSES:
            total = self.pooled(name)
            out[name] = total.f1 if total.predicted_px + total.true_px else float("nan")
        return out

    def length_errors(self, name: str) -> list[float]:
        """Per-image relative length errors of class ``name``, in the order added."""
        return [match.length_error for match in self.matches[name]]

    def median_abs_length_error(self) -> dict[str, float]:
        """Median |relative length error| per line class over the images that show it.

        Only images whose true skeleton has a length count (a median with images
        that neither show nor predict the class would read their trivial 0 as
        accuracy); false lines elsewhere cost precision. NaN if no image shows it.
        """
        out = {}
        for name in LINE_CLASSES:
            errors = [abs(m.length_error) for m in self.matches[name] if m.true_length_px > 0]
            out[name] = float(np.median(errors)) if errors else float("nan")
        return out

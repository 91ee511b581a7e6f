"""Scoring particle detections against hand-labelled particles.

:func:`match_particles` pairs detections with true particles one to one: a
pair is a match when its centres are at most ``max_distance_px`` apart
(default :func:`matching_radius_px`: half the median true diameter, at least
:data:`MIN_MATCHING_RADIUS_PX`). Among all one-to-one matchings it takes one
with the most matches and, of those, the least total centre distance (the
Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`), so a
detection that two true particles compete for goes where it leaves the other
one a partner, which greedy nearest-first matching does not guarantee.

Memory and time: candidate pairs within the radius come from a k-d tree
(:class:`scipy.spatial.cKDTree`), so no N x M matrix is built. The bipartite
graph of candidate pairs falls apart into connected components (groups of
detections and particles linked by candidate pairs), and each component is
solved on its own dense cost matrix: its optimum is independent of the
others. With the default radius a component is a handful of points (one
pair, almost always, solved without the Hungarian step): 50,000 particles
6 px apart on average match in about 0.6 s on one core. A radius comparable to
the spacing of particles in a dense agglomerate joins them into one large
component; one of more than :data:`MAX_COMPONENT_CELLS` (detections x
particles) is refused rather than allocated.

:func:`score_matching` and :func:`score_particles` turn a matching into a
:class:`ParticleScore`: counts, precision, recall, F1, the count error and
the size error of matched pairs. Scores of several images are best combined
from their counts (sums of true positives, false positives and false
negatives), not by averaging their ratios.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

#: Smallest default matching radius, px (centres of 1-2 px particles are that uncertain).
MIN_MATCHING_RADIUS_PX = 3.0

#: Largest connected component of candidate pairs solved, detections x true particles
#: (a float64 cost matrix of this many cells is 128 MB).
MAX_COMPONENT_CELLS = 16_000_000


@dataclass(frozen=True, eq=False)
class Matching:
    """One-to-one pairs of detections and true particles.

    Attributes:
        detected_index: (K,) int64 indices into the detections, ascending.
        truth_index: (K,) int64 indices into the true particles, paired with ``detected_index``.
        distances_px: (K,) float64 centre distance of each pair, px, each <= ``max_distance_px``.
        max_distance_px: radius within which a pair counts as a match, px (> 0).
        n_detected: number of detections N.
        n_truth: number of true particles M.
    """

    detected_index: np.ndarray
    truth_index: np.ndarray
    distances_px: np.ndarray
    max_distance_px: float
    n_detected: int
    n_truth: int

    @property
    def true_positives(self) -> int:
        """Matched pairs K (<= min(N, M))."""
        return int(self.detected_index.size)

    @property
    def false_positives(self) -> int:
        """Detections without a true particle, N - K."""
        return self.n_detected - self.true_positives

    @property
    def false_negatives(self) -> int:
        """True particles without a detection, M - K."""
        return self.n_truth - self.true_positives

    def unmatched_detected(self) -> np.ndarray:
        """(N - K,) int64 indices of the false-positive detections, ascending."""
        return np.setdiff1d(np.arange(self.n_detected), self.detected_index)

    def unmatched_truth(self) -> np.ndarray:
        """(M - K,) int64 indices of the missed true particles, ascending."""
        return np.setdiff1d(np.arange(self.n_truth), self.truth_index)


@dataclass(frozen=True)
class ParticleScore:
    """Detections of one image scored against its hand labels.

    Empty cases: a ratio whose denominator is zero is 1.0 when the image has
    neither detections nor true particles (nothing to find and nothing
    claimed) and 0.0 otherwise, so a detector that finds nothing on a
    labelled image, or something on an empty one, scores 0 on all three.
    F1 is 2 TP / (2 TP + FP + FN) throughout.

    Attributes:
        true_positives: matched pairs.
        false_positives: detections without a true particle.
        false_negatives: true particles without a detection.
        precision: TP / (TP + FP), in [0, 1].
        recall: TP / (TP + FN), in [0, 1].
        f1: harmonic mean of precision and recall, in [0, 1].
        count_error: (detected - true) / true, a signed fraction (0.1 = 10 %
            too many); ``None`` without true particles.
        median_size_error: median over matched pairs of
            (detected - true diameter) / true diameter, a signed fraction;
            ``None`` without matches.
        median_distance_px: median centre distance of matched pairs, px;
            ``None`` without matches.
        max_distance_px: matching radius used, px.
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    count_error: float | None
    median_size_error: float | None
    median_distance_px: float | None
    max_distance_px: float

    def as_dict(self) -> dict[str, int | float | None]:
        """Plain ints, floats and ``None`` by field name, ready for ``json.dumps``."""
        return asdict(self)


def matching_radius_px(truth_diameters_px: np.ndarray) -> float:
    """Default matching radius: half the median true diameter, at least 3 px.

    Args:
        truth_diameters_px: (M,) true diameters, px; M may be 0.

    Returns:
        Radius in px, >= :data:`MIN_MATCHING_RADIUS_PX`.

    Example:
        >>> matching_radius_px(np.array([4.0, 10.0, 12.0]))
        5.0
        >>> matching_radius_px(np.array([]))
        3.0
    """
    diameters = np.asarray(truth_diameters_px, np.float64)
    if diameters.size == 0:
        return MIN_MATCHING_RADIUS_PX
    return max(MIN_MATCHING_RADIUS_PX, 0.5 * float(np.median(diameters)))


def match_particles(
    detected_xy: np.ndarray,
    truth_xy: np.ndarray,
    truth_diameters_px: np.ndarray,
    max_distance_px: float | None = None,
) -> Matching:
    """Pair detections with true particles, one to one, within a radius.

    Args:
        detected_xy: (N, 2) detected centres x, y, px.
        truth_xy: (M, 2) true centres x, y, px.
        truth_diameters_px: (M,) true diameters, px (> 0); they set the default radius.
        max_distance_px: largest centre distance of a match, px (> 0);
            :func:`matching_radius_px` of the true diameters when ``None``.

    Returns:
        :class:`Matching` with the most pairs possible within the radius
        and, among such matchings, the least total distance.

    Raises:
        ValueError: a shape is wrong, a value is not finite, a diameter or
            the radius is not positive, or a component of candidate pairs is
            larger than :data:`MAX_COMPONENT_CELLS`.

    Example:
        Truth 0 is within reach of both detections, truth 1 only of detection
        0; nearest-first matching would give detection 0 to truth 0 and match
        one pair, this matches both:

        >>> found = match_particles(
        ...     np.array([[1.0, 0.0], [-2.0, 0.0]]),
        ...     np.array([[0.0, 0.0], [3.5, 0.0]]),
        ...     np.array([6.0, 6.0]),
        ... )
        >>> found.detected_index.tolist(), found.truth_index.tolist(), found.distances_px.tolist()
        ([0, 1], [1, 0], [2.5, 2.0])
    """
    detected = _points(detected_xy, "detected_xy")
    truth = _points(truth_xy, "truth_xy")
    diameters = _diameters(truth_diameters_px, truth.shape[0], "truth_diameters_px")
    if max_distance_px is None:
        radius = matching_radius_px(diameters)
    else:
        radius = float(max_distance_px)
        if not np.isfinite(radius) or radius <= 0:
            raise ValueError(f"max_distance_px must be a positive number of px, got {radius}")
    n_detected, n_truth = detected.shape[0], truth.shape[0]
    if n_detected == 0 or n_truth == 0:
        empty = np.zeros(0, np.int64)
        return Matching(empty, empty, np.zeros(0), radius, n_detected, n_truth)

    pairs = cKDTree(detected).sparse_distance_matrix(cKDTree(truth), radius, output_type="ndarray")
    rows, cols, distances = _assign(
        pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"], n_detected, radius
    )
    order = np.argsort(rows)
    return Matching(rows[order], cols[order], distances[order], radius, n_detected, n_truth)


def score_matching(
    matching: Matching, detected_diameters_px: np.ndarray, truth_diameters_px: np.ndarray
) -> ParticleScore:
    """Counts, ratios and errors of a matching (see :class:`ParticleScore` for empty cases).

    Args:
        matching: from :func:`match_particles`.
        detected_diameters_px: (N,) detected diameters, px (> 0).
        truth_diameters_px: (M,) true diameters, px (> 0).

    Returns:
        :class:`ParticleScore`.
    """
    detected = _diameters(detected_diameters_px, matching.n_detected, "detected_diameters_px")
    truth = _diameters(truth_diameters_px, matching.n_truth, "truth_diameters_px")
    tp, fp, fn = matching.true_positives, matching.false_positives, matching.false_negatives
    nothing = matching.n_detected == 0 and matching.n_truth == 0
    size_errors = (detected[matching.detected_index] - truth[matching.truth_index]) / truth[
        matching.truth_index
    ]
    return ParticleScore(
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        precision=_ratio(tp, tp + fp, nothing),
        recall=_ratio(tp, tp + fn, nothing),
        f1=_ratio(2 * tp, 2 * tp + fp + fn, nothing),
        count_error=(
            (matching.n_detected - matching.n_truth) / matching.n_truth
            if matching.n_truth
            else None
        ),
        median_size_error=float(np.median(size_errors)) if tp else None,
        median_distance_px=float(np.median(matching.distances_px)) if tp else None,
        max_distance_px=float(matching.max_distance_px),
    )


def score_particles(
    detected_xy: np.ndarray,
    detected_diameters_px: np.ndarray,
    truth_xy: np.ndarray,
    truth_diameters_px: np.ndarray,
    *,
    max_distance_px: float | None = None,
) -> ParticleScore:
    """Score detections against hand labels: :func:`match_particles`, then :func:`score_matching`.

    Args:
        detected_xy: (N, 2) detected centres x, y, px.
        detected_diameters_px: (N,) detected diameters, px (> 0).
        truth_xy: (M, 2) true centres x, y, px.
        truth_diameters_px: (M,) true diameters, px (> 0).
        max_distance_px: matching radius, px; :func:`matching_radius_px` when ``None``.

    Returns:
        :class:`ParticleScore`.

    Example:
        Two of three particles found, 10 % too large, plus one false detection:

        >>> score = score_particles(
        ...     np.array([[10.0, 10.0], [20.0, 11.0], [40.0, 40.0]]),
        ...     np.array([5.5, 5.5, 5.0]),
        ...     np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]]),
        ...     np.array([5.0, 5.0, 5.0]),
        ... )
        >>> score.true_positives, score.false_positives, score.false_negatives
        (2, 1, 1)
        >>> round(score.f1, 3), score.count_error, round(score.median_size_error, 3)
        (0.667, 0.0, 0.1)
    """
    matching = match_particles(
        detected_xy, truth_xy, truth_diameters_px, max_distance_px=max_distance_px
    )
    return score_matching(matching, detected_diameters_px, truth_diameters_px)


def pooled(scores: Sequence[ParticleScore]) -> tuple[float, float, float]:
    """Precision, recall and F1 of several images from their summed counts.

    Example:
        >>> a = score_particles(np.zeros((1, 2)), np.ones(1), np.zeros((1, 2)), np.ones(1))
        >>> b = score_particles(np.zeros((0, 2)), np.ones(0), np.zeros((3, 2)), np.ones(3))
        >>> tuple(round(value, 3) for value in pooled([a, b]))
        (1.0, 0.25, 0.4)
    """
    tp = sum(score.true_positives for score in scores)
    fp = sum(score.false_positives for score in scores)
    fn = sum(score.false_negatives for score in scores)
    nothing = tp + fp + fn == 0
    return (
        _ratio(tp, tp + fp, nothing),
        _ratio(tp, tp + fn, nothing),
        _ratio(2 * tp, 2 * tp + fp + fn, nothing),
    )


def _assign(
    rows: np.ndarray, cols: np.ndarray, distances: np.ndarray, n_detected: int, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best matching within the candidate pairs (rows, cols, distances), one component at a time."""
    if rows.size == 0:
        return rows, cols, distances
    nodes = n_detected + int(cols.max()) + 1
    graph = coo_matrix((np.ones(rows.size), (rows, n_detected + cols)), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    pair_component = component[rows]
    pairs_per_component = np.bincount(pair_component)
    single = pairs_per_component[pair_component] == 1  # a lone pair is its own best matching
    kept = [np.flatnonzero(single)]
    shared = np.flatnonzero(~single)
    shared = shared[np.argsort(pair_component[shared], kind="stable")]
    starts = np.flatnonzero(np.diff(pair_component[shared], prepend=-1))
    for group in np.split(shared, starts[1:]):
        if group.size:
            kept.append(group[_solve_component(rows[group], cols[group], distances[group], radius)])
    chosen = np.concatenate(kept)
    return rows[chosen], cols[chosen], distances[chosen]


def _solve_component(
    rows: np.ndarray, cols: np.ndarray, distances: np.ndarray, radius: float
) -> np.ndarray:
    """Indices of the candidate pairs in one component's optimal matching."""
    local_rows, row_of = np.unique(rows, return_inverse=True)
    local_cols, col_of = np.unique(cols, return_inverse=True)
    shape = (local_rows.size, local_cols.size)
    if shape[0] * shape[1] > MAX_COMPONENT_CELLS:
        raise ValueError(
            f"{shape[0]} detections and {shape[1]} true particles are linked by pairs within "
            f"{radius:g} px, more than one matching can solve; give a smaller max_distance_px"
        )
    # A non-pair costs more than any set of real pairs, so the optimum has
    # the most real pairs first and the least distance second.
    forbidden = radius * (min(shape) + 1) + 1.0
    cost = np.full(shape, forbidden)
    cost[row_of, col_of] = distances
    pair_of = np.full(shape, -1, np.int64)
    pair_of[row_of, col_of] = np.arange(rows.size)
    assigned = pair_of[linear_sum_assignment(cost)]
    return assigned[assigned >= 0]


def _ratio(numerator: int, denominator: int, nothing: bool) -> float:
    if denominator == 0:
        return 1.0 if nothing else 0.0
    return numerator / denominator


def _points(points: np.ndarray, name: str) -> np.ndarray:
    """(K, 2) float64 finite coordinates; an empty input of any shape is (0, 2)."""
    array = np.asarray(points, np.float64)
    if array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) (x, y in px), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds values that are not finite")
    return array


def _diameters(diameters: np.ndarray, count: int, name: str) -> np.ndarray:
    """(count,) float64 positive finite diameters."""
    array = np.asarray(diameters, np.float64)
    if array.size == 0 and count == 0:
        return array.reshape(0)
    if array.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), got {array.shape}")
    if not (np.isfinite(array) & (array > 0)).all():
        raise ValueError(f"{name} must be positive finite px")
    return array

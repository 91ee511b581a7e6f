"""Validation metrics: the paper's classification scores, per-class IoU and line metrics.

Classification (Table 1): accuracy, precision and recall at a score
threshold of 0.5, and ROC AUC. Segmentation: intersection over union per
defect class, summed over all pixels of a validation set (not averaged per
image, so that images without a class do not count as perfect or as zero).
Line classes are also scored as users read them, on skeletons with a 2 px
tolerance (:mod:`analysis.linemetrics`): pooled line F1 per class and the
median absolute relative skeleton-length error over the images that show
the class.
"""

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from analysis.defects import DEFECT_CLASSES, LINE_CLASSES
from analysis.linemetrics import LineScores

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "roc_auc")


def classification_metrics(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, precision, recall (ordered = positive) and ROC AUC.

    Args:
        labels: (N,) true labels, 1 ordered, 0 disordered.
        scores: (N,) order scores in [0, 1].
        threshold: score at and above which an image is called ordered.

    Returns:
        ``{"accuracy", "precision", "recall", "roc_auc"}``; ROC AUC is NaN when
        only one class is present, precision is 0 when nothing is called ordered.

    Example:
        >>> classification_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])["accuracy"]
        0.5
    """
    y = np.asarray(labels, int)
    s = np.asarray(scores, float)
    predicted = (s >= threshold).astype(int)
    auc = roc_auc_score(y, s) if len(np.unique(y)) == 2 else float("nan")
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "roc_auc": float(auc),
    }


class IoUCounter:
    """Accumulates per-class intersections and unions over a validation set.

    Example:
        >>> counter = IoUCounter()
        >>> truth = np.zeros((4, 2, 2), bool); truth[0, 0] = True
        >>> counter.update(truth, truth)
        >>> counter.iou()["sheet_border"]
        1.0
    """

    def __init__(self, classes: Sequence[str] = DEFECT_CLASSES) -> None:
        self.classes = tuple(classes)
        self.intersection = np.zeros(len(self.classes), np.int64)
        self.union = np.zeros(len(self.classes), np.int64)

    def update(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        """Add one image: (C, H, W) predicted and true masks (bool or 0/1)."""
        p = np.asarray(predicted) != 0
        t = np.asarray(truth) != 0
        if p.shape != t.shape or p.shape[0] != len(self.classes):
            raise ValueError(
                f"masks must both be ({len(self.classes)}, H, W): {p.shape}, {t.shape}"
            )
        self.intersection += (p & t).reshape(len(self.classes), -1).sum(1)
        self.union += (p | t).reshape(len(self.classes), -1).sum(1)

    def iou(self) -> dict[str, float]:
        """IoU per class, NaN for a class absent from both predictions and truth."""
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(self.union > 0, self.intersection / self.union, np.nan)
        return dict(zip(self.classes, values.tolist(), strict=True))


def segmentation_metrics(iou: dict[str, float]) -> dict[str, float]:
    """Per-class IoU plus ``mean_iou`` (all classes) and ``line_iou`` (line classes), NaN-aware."""
    line = [iou[name] for name in LINE_CLASSES if not np.isnan(iou[name])]
    present = [value for value in iou.values() if not np.isnan(value)]
    return {
        **{f"iou_{name}": value for name, value in iou.items()},
        "mean_iou": float(np.mean(present)) if present else float("nan"),
        "line_iou": float(np.mean(line)) if line else float("nan"),
    }


def line_metrics(scores: LineScores) -> dict[str, float]:
    """``line_f1_<class>`` and ``length_error_<class>`` per line class, and their mean ``line_f1``.

    ``line_f1_<class>`` is the pooled tolerant F1 (0..1, NaN for a class absent
    from all images), ``length_error_<class>`` the median absolute relative
    skeleton-length error (>= 0, NaN if no image shows the class), both from
    :class:`analysis.linemetrics.LineScores`; ``line_f1`` averages the defined F1s.
    """
    f1, length_error = scores.f1(), scores.median_abs_length_error()
    defined = [value for value in f1.values() if not np.isnan(value)]
    return {
        **{f"line_f1_{name}": f1[name] for name in LINE_CLASSES},
        "line_f1": float(np.mean(defined)) if defined else float("nan"),
        **{f"length_error_{name}": length_error[name] for name in LINE_CLASSES},
    }


def score_masks(
    predicted: Iterable[np.ndarray], truth: Iterable[np.ndarray], *, lines: bool = False
) -> dict[str, float]:
    """:func:`segmentation_metrics` of a set of images; with ``lines``, :func:`line_metrics` too.

    Args:
        predicted: one (4, H, W) bool mask stack per image.
        truth: the true (4, H, W) stacks (bool or 0/1), in the same order.
        lines: add the line metrics (about 2 s per 1000 x 750 px image on one
            core, for skeletons and distance transforms: held-out scoring, not
            every epoch's validation).
    """
    counter, line_scores = IoUCounter(), LineScores()
    for p, t in zip(predicted, truth, strict=True):
        counter.update(p, t)
        if lines:
            line_scores.update(p, t)
    metrics = segmentation_metrics(counter.iou())
    return {**metrics, **line_metrics(line_scores)} if lines else metrics

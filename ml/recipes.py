"""The paper's training recipes per task: data, loss and validation around :func:`ml.training.fit`.

* Order classifier: augmented square crops at the model's scale, sigmoid
  cross-entropy (the two-class cross-entropy of the paper with one logit),
  validated on whole images by ROC AUC (ties broken by validation loss).
* Defect segmenter: augmented 192 × 192 crops, sigmoid cross-entropy plus
  Dice loss per class (thin lines cover a few percent of the pixels, and Dice
  keeps them from being drowned by background), validated on whole images by
  the mean IoU of the line classes.

Example:
    >>> model = create_model("order_classifier", "resnet34")
    >>> result = fit_classifier(model, train_records, val_records, TrainConfig(epochs=30))
"""

from collections.abc import Callable, Sequence

import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.nn import functional as F

from ml.data import DefectDataset, LabelledImage, OrderDataset, PreparedImage, prepare_records
from ml.inference import score_prepared, segment_prepared
from ml.metrics import classification_metrics, score_masks
from ml.training import TrainConfig, TrainResult, fit

CLASSIFIER_CROP_PX = 256
CLASSIFIER_SAMPLES_PER_IMAGE = 2
SEGMENTER_CROP_PX = 192
SEGMENTER_SAMPLES_PER_IMAGE = 8
#: Probability at and above which a pixel belongs to a defect class.
MASK_THRESHOLD = 0.5


def classifier_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy of (N,) logits against (N,) 0/1 labels."""
    return F.binary_cross_entropy_with_logits(logits, labels.float())


class SegmenterLoss(nn.Module):
    """Per-class sigmoid cross-entropy plus Dice loss of (N, 4, H, W) logits and 0/1 masks."""

    def __init__(self) -> None:
        super().__init__()
        self.dice = smp.losses.DiceLoss("multilabel", from_logits=True)

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, masks) + self.dice(logits, masks)


def at_model_scale(
    items: Sequence[LabelledImage | PreparedImage], model: nn.Module, masks: bool = False
) -> list[PreparedImage]:
    """Items prepared at ``model``'s scale: records are prepared, prepared ones checked.

    Args:
        items: records or :class:`ml.data.PreparedImage` (e.g. prepared once for all folds).
        model: a classifier or segmenter (its ``target_nm_per_px`` sets the scale).
        masks: prepare masks too, with the segmenter's ``particle_diameter_nm``.

    Raises:
        ValueError: a prepared item has another scale than the model.
    """
    target = model.target_nm_per_px
    diameter = model.particle_diameter_nm if masks else None
    records = [item for item in items if isinstance(item, LabelledImage)]
    prepared = iter(prepare_records(records, target, diameter))
    out = []
    for item in items:
        if isinstance(item, LabelledImage):
            out.append(next(prepared))
        elif item.target_nm_per_px != target:
            raise ValueError(
                f"{item.key or 'item'} was prepared at {item.target_nm_per_px} nm/px, "
                f"the model works at {target} nm/px"
            )
        else:
            out.append(item)
    return out


def evaluate_classifier(model: nn.Module, items: Sequence[PreparedImage]) -> dict[str, float]:
    """Metrics of :func:`ml.metrics.classification_metrics` plus ``val_loss`` on whole images.

    Args:
        model: an order classifier.
        items: labelled images at the model's scale.
    """
    scores = score_prepared(model, [item.unit for item in items])
    y = np.array([item.label for item in items], float)
    clipped = np.clip(scores, 1e-7, 1 - 1e-7)
    loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    return {**classification_metrics(y, scores), "val_loss": float(loss)}


def evaluate_segmenter(
    model: nn.Module, items: Sequence[PreparedImage], *, lines: bool = False
) -> dict[str, float]:
    """IoU per class, ``mean_iou`` and ``line_iou`` on whole images at the model's scale.

    Args:
        model: a defect segmenter.
        items: images with masks at the model's scale.
        lines: add the tolerant line metrics (:func:`ml.metrics.line_metrics`).
    """
    predicted = (segment_prepared(model, item.unit) >= MASK_THRESHOLD for item in items)
    return score_masks(predicted, [item.mask for item in items], lines=lines)


def _validation(
    evaluate: Callable[[nn.Module, Sequence[PreparedImage]], dict[str, float]],
    val: Sequence[LabelledImage | PreparedImage] | None,
    model: nn.Module,
    *,
    masks: bool,
) -> Callable[[nn.Module], dict[str, float]] | None:
    """``evaluate`` bound to ``val`` prepared once at ``model``'s scale; None without ``val``."""
    if not val:
        return None
    items = at_model_scale(val, model, masks=masks)
    return lambda m: evaluate(m, items)


def fit_classifier(
    model: nn.Module,
    train: Sequence[LabelledImage | PreparedImage],
    val: Sequence[LabelledImage | PreparedImage] | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train an order classifier in place; with ``val``, keep its best epoch by ROC AUC.

    Args:
        model: an :class:`ml.classifiers.OrderClassifier`.
        train: labelled training images (records or prepared at the model's scale).
        val: labelled validation images for early stopping, or ``None``.
        config: :class:`ml.training.TrainConfig`.
    """
    config = config or TrainConfig()
    dataset = OrderDataset(
        at_model_scale(train, model),
        crop_size=config.crop_size or CLASSIFIER_CROP_PX,
        samples_per_image=config.samples_per_image or CLASSIFIER_SAMPLES_PER_IMAGE,
        seed=config.seed,
    )
    evaluate = _validation(evaluate_classifier, val, model, masks=False)
    return fit(model, dataset, classifier_loss, config, evaluate, "roc_auc", "classifier")


def fit_segmenter(
    model: nn.Module,
    train: Sequence[LabelledImage | PreparedImage],
    val: Sequence[LabelledImage | PreparedImage] | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train a defect segmenter in place; with ``val``, keep its best epoch by line IoU.

    Args:
        model: a :class:`ml.segmenters.DefectSegmenter`.
        train: images with defect masks (records or prepared at the model's scale).
        val: images with defect masks for early stopping, or ``None``.
        config: :class:`ml.training.TrainConfig`.
    """
    config = config or TrainConfig()
    dataset = DefectDataset(
        at_model_scale(train, model, masks=True),
        crop_size=config.crop_size or SEGMENTER_CROP_PX,
        samples_per_image=config.samples_per_image or SEGMENTER_SAMPLES_PER_IMAGE,
        seed=config.seed,
    )
    evaluate = _validation(evaluate_segmenter, val, model, masks=True)
    return fit(model, dataset, SegmenterLoss(), config, evaluate, "line_iou", "segmenter")

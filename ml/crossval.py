"""k-fold cross-validation and the paper's Table 1.

Each fold trains a fresh model on k − 1 parts and scores it on the held-out
part, which it never saw: early stopping uses a further split of the
training part (``val_fraction``). Classifier folds are stratified by label.
:func:`format_table` prints results as the paper's Table 1 (markdown).

Example:
    >>> result = cross_validate_classifier(records, "resnet34", k=5, config=TrainConfig(epochs=40))
    >>> print(format_table({"ResNet34": result}))
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from torch import nn

from analysis.defects import DEFECT_CLASSES, LINE_CLASSES
from ml.data import LabelledImage
from ml.metrics import CLASSIFICATION_METRICS
from ml.recipes import (
    at_model_scale,
    evaluate_classifier,
    evaluate_segmenter,
    fit_classifier,
    fit_segmenter,
)
from ml.registry import create_model
from ml.spec import DEFECT_SEGMENTER, ORDER_CLASSIFIER
from ml.training import TrainConfig, TrainResult, seed_everything

#: Columns of the segmentation table: IoU per class and its line-class mean, then the
#: tolerant line F1 per line class, its mean, and the median |relative length error|.
SEGMENTATION_METRICS = (
    *(f"iou_{name}" for name in DEFECT_CLASSES),
    "line_iou",
    *(f"line_f1_{name}" for name in LINE_CLASSES),
    "line_f1",
    *(f"length_error_{name}" for name in LINE_CLASSES),
)
_HEADERS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "roc_auc": "ROC AUC",
    "iou_sheet_border": "IoU sheet border",
    "iou_grain_boundary": "IoU grain boundary",
    "iou_topological_defect": "IoU topological defect",
    "iou_point_defect": "IoU point defect",
    "line_iou": "IoU lines (mean)",
    **{f"line_f1_{name}": f"line F1 {name.replace('_', ' ')}" for name in LINE_CLASSES},
    "line_f1": "line F1 (mean)",
    **{f"length_error_{name}": f"length error {name.replace('_', ' ')}" for name in LINE_CLASSES},
}


@dataclass
class FoldResult:
    """One fold: metrics on its held-out part and how training went.

    Attributes:
        fold: 1-based fold number.
        metrics: metrics on the held-out part.
        n_train: images trained on (the early-stopping images excluded).
        n_test: held-out images.
        best_epoch: epoch whose weights were tested.
        epochs_run: epochs trained.
        wall_time_s: training time, seconds.
        history: per-epoch training loss and validation metrics (:class:`ml.training.TrainResult`).
    """

    fold: int
    metrics: dict[str, float]
    n_train: int
    n_test: int
    best_epoch: int
    epochs_run: int
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class CrossValResult:
    """All folds of one model.

    Attributes:
        task: ``"order_classifier"`` or ``"defect_segmenter"``.
        architecture: network name.
        encoder: segmenter encoder, or ``None``.
        n_params: trainable parameters of the model.
        metric_names: metrics reported, in table order.
        folds: one :class:`FoldResult` per fold.
    """

    task: str
    architecture: str
    encoder: str | None
    n_params: int
    metric_names: tuple[str, ...]
    folds: list[FoldResult] = field(default_factory=list)

    def mean(self) -> dict[str, float]:
        """Mean of each metric over folds (NaN folds skipped)."""
        return {name: _nan_stat(np.nanmean, self._values(name)) for name in self.metric_names}

    def std(self) -> dict[str, float]:
        """Standard deviation of each metric over folds (NaN folds skipped)."""
        return {name: _nan_stat(np.nanstd, self._values(name)) for name in self.metric_names}

    def final_epochs(self) -> int:
        """Epochs to train the final model on all data: the folds' median best epoch (>= 1)."""
        epochs = [fold.best_epoch or fold.epochs_run for fold in self.folds]
        return max(1, int(np.median(epochs))) if epochs else 1

    def wall_time_s(self) -> float:
        """Training and evaluation time of all folds, seconds."""
        return sum(fold.wall_time_s for fold in self.folds)

    def _values(self, name: str) -> np.ndarray:
        return np.array([fold.metrics.get(name, np.nan) for fold in self.folds], float)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary, for a model version's stored metrics."""
        return {
            "task": self.task,
            "architecture": self.architecture,
            "encoder": self.encoder,
            "n_params": self.n_params,
            "folds": [vars(fold) for fold in self.folds],
            "mean": self.mean(),
            "std": self.std(),
        }


def _nan_stat(function: Any, values: np.ndarray) -> float:
    return float(function(values)) if np.any(~np.isnan(values)) else float("nan")


def kfold_splits(
    n: int, k: int = 5, *, labels: Sequence[int] | None = None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled k-fold index splits, stratified by ``labels`` when given.

    Args:
        n: number of items.
        k: number of folds (2 ≤ k ≤ n).
        labels: (n,) class labels to stratify by, or ``None``.
        seed: shuffling seed.

    Returns:
        k ``(train_indices, test_indices)`` pairs; every item is tested exactly once.
    """
    items = np.arange(n)
    if labels is None:
        return list(KFold(k, shuffle=True, random_state=seed).split(items))
    return list(
        StratifiedKFold(k, shuffle=True, random_state=seed).split(items, np.asarray(labels))
    )


def _early_stopping_split(
    indices: np.ndarray, fraction: float, labels: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    count = round(len(indices) * fraction)
    if count == 0:
        return indices, indices[:0]
    stratify = labels[indices] if labels is not None else None
    if stratify is not None and (count < 2 or min(np.bincount(stratify)) < 2):
        stratify = None
    fit_part, val_part = train_test_split(
        indices, test_size=count, random_state=seed, stratify=stratify
    )
    return np.sort(fit_part), np.sort(val_part)


def _count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _cross_validate(
    task: str,
    architecture: str,
    encoder: str | None,
    records: Sequence[LabelledImage],
    k: int,
    config: TrainConfig,
    val_fraction: float,
    model_kwargs: Mapping[str, Any],
    on_fold: Callable[[FoldResult], None] | None,
) -> CrossValResult:
    classifier = task == ORDER_CLASSIFIER
    labels = np.array([r.label for r in records], int) if classifier else None
    names = CLASSIFICATION_METRICS if classifier else SEGMENTATION_METRICS
    probe = create_model(task, architecture, encoder, **model_kwargs)
    result = CrossValResult(task, architecture, encoder, _count_parameters(probe), names)
    # Every fold uses the same images at the same scale: prepare them once.
    items = at_model_scale(records, probe, masks=not classifier)
    del probe
    for fold, (train_idx, test_idx) in enumerate(
        kfold_splits(len(records), k, labels=labels, seed=config.seed), start=1
    ):
        fit_idx, val_idx = _early_stopping_split(train_idx, val_fraction, labels, config.seed)
        seed_everything(config.seed + fold)
        model = create_model(task, architecture, encoder, **model_kwargs)
        fold_config = config
        if config.checkpoint_dir is not None:
            fold_config = replace(config, checkpoint_dir=config.checkpoint_dir / f"fold-{fold}")
        fit_items = [items[i] for i in fit_idx]
        val_items = [items[i] for i in val_idx] or None
        test = [items[i] for i in test_idx]
        if classifier:
            trained: TrainResult = fit_classifier(model, fit_items, val_items, fold_config)
            metrics = evaluate_classifier(model, test)
        else:
            trained = fit_segmenter(model, fit_items, val_items, fold_config)
            metrics = evaluate_segmenter(model, test, lines=True)
        fold_result = FoldResult(
            fold=fold,
            metrics=metrics,
            n_train=len(fit_items),
            n_test=len(test),
            best_epoch=trained.best_epoch,
            epochs_run=len(trained.history),
            wall_time_s=trained.wall_time_s,
            history=trained.history,
        )
        result.folds.append(fold_result)
        if on_fold is not None:
            on_fold(fold_result)
    return result


def cross_validate_classifier(
    records: Sequence[LabelledImage],
    architecture: str = "resnet34",
    *,
    k: int = 5,
    config: TrainConfig | None = None,
    val_fraction: float = 0.15,
    on_fold: Callable[[FoldResult], None] | None = None,
    **model_kwargs: Any,
) -> CrossValResult:
    """Stratified k-fold cross-validation of an order classifier.

    Args:
        records: labelled images.
        architecture: classifier architecture (``resnet34``, ``vgg13``, ``alexnet``).
        k: number of folds (the paper: 5).
        config: training settings shared by all folds.
        val_fraction: share of each training part held out for early stopping.
        on_fold: called with each :class:`FoldResult` as soon as the fold is done.
        **model_kwargs: passed to :func:`ml.registry.create_model`.

    Returns:
        :class:`CrossValResult` with accuracy, precision, recall and ROC AUC per fold.
    """
    return _cross_validate(
        ORDER_CLASSIFIER,
        architecture,
        None,
        records,
        k,
        config or TrainConfig(),
        val_fraction,
        model_kwargs,
        on_fold,
    )


def cross_validate_segmenter(
    records: Sequence[LabelledImage],
    architecture: str = "fpn",
    encoder: str = "resnet34",
    *,
    k: int = 5,
    config: TrainConfig | None = None,
    val_fraction: float = 0.15,
    on_fold: Callable[[FoldResult], None] | None = None,
    **model_kwargs: Any,
) -> CrossValResult:
    """k-fold cross-validation of a defect segmenter at the model's scale.

    Held-out images are scored by strict IoU per class and, for line classes, as
    users read them (:func:`ml.metrics.line_metrics`): tolerant skeleton F1 and
    the median absolute relative skeleton-length error.

    Args:
        records: images with defect masks.
        architecture: ``fpn`` or ``unet``.
        encoder: segmenter encoder (``resnet34``, ``se_resnet50``, ``vgg13``, ``vgg16``).
        k: number of folds.
        config: training settings shared by all folds.
        val_fraction: share of each training part held out for early stopping.
        on_fold: called with each :class:`FoldResult` as soon as the fold is done.
        **model_kwargs: passed to :func:`ml.registry.create_model`.

    Returns:
        :class:`CrossValResult` with :data:`SEGMENTATION_METRICS` per fold.
    """
    return _cross_validate(
        DEFECT_SEGMENTER,
        architecture,
        encoder,
        records,
        k,
        config or TrainConfig(),
        val_fraction,
        model_kwargs,
        on_fold,
    )


def _cell(mean: float, std: float | None = None) -> str:
    if np.isnan(mean):
        return "—"
    return f"{mean:.3f}" if std is None or np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def format_table(results: Mapping[str, CrossValResult], *, per_fold: bool = False) -> str:
    """Markdown table of cross-validation results in the paper's Table 1 layout.

    One row per model: parameter count and mean ± standard deviation of each
    metric over folds; with ``per_fold``, each fold's row follows its model's.
    Models of one task share the columns of the first one.

    Args:
        results: row name (e.g. ``"ResNet34"``) → its :class:`CrossValResult`.
        per_fold: add one row per fold.

    Example:
        | network | params | accuracy | precision | recall | ROC AUC |
        |---|---|---|---|---|---|
        | ResNet34 | 21.3 M | 0.950 ± 0.020 | … |
    """
    if not results:
        return ""
    names = next(iter(results.values())).metric_names
    lines = [
        "| " + " | ".join(["network", "params", *(_HEADERS.get(n, n) for n in names)]) + " |",
        "|" + "---|" * (len(names) + 2),
    ]
    for row, result in results.items():
        mean, std = result.mean(), result.std()
        cells = [_cell(mean.get(n, np.nan), std.get(n, np.nan)) for n in names]
        lines.append(f"| {row} | {result.n_params / 1e6:.1f} M | " + " | ".join(cells) + " |")
        if per_fold:
            for fold in result.folds:
                cells = [_cell(fold.metrics.get(n, np.nan)) for n in names]
                lines.append(f"| {row} fold {fold.fold} | | " + " | ".join(cells) + " |")
    return "\n".join(lines)

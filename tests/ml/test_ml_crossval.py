"""Cross-validation: stratified splits, metrics on hand-made examples, the Table 1 layout."""

import math

import numpy as np
import pytest

from analysis.defects import LINE_CLASSES
from ml.crossval import (
    SEGMENTATION_METRICS,
    CrossValResult,
    FoldResult,
    cross_validate_classifier,
    cross_validate_segmenter,
    format_table,
    kfold_splits,
)
from ml.data import make_record
from ml.metrics import IoUCounter, classification_metrics, segmentation_metrics
from ml.training import TrainConfig


def test_classifier_splits_are_stratified_and_test_every_item_once():
    labels = np.array([1] * 15 + [0] * 5)
    splits = kfold_splits(20, 5, labels=labels, seed=0)
    assert len(splits) == 5
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(20))
    for train, test in splits:
        assert not set(train) & set(test)
        assert labels[test].sum() == 3
        assert len(test) == 4


def test_splits_depend_on_the_seed_only():
    a = kfold_splits(12, 3, seed=1)
    b = kfold_splits(12, 3, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_classification_metrics_on_a_hand_made_example():
    # Called ordered at 0.5: 0.9, 0.8, 0.6 → TP 2, FP 1, FN 1 (0.4), TN 1 (0.1).
    metrics = classification_metrics([1, 1, 1, 0, 0], [0.9, 0.8, 0.4, 0.6, 0.1])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    # 5 of the 6 (ordered, disordered) pairs are ranked right.
    assert metrics["roc_auc"] == pytest.approx(5 / 6)


def test_roc_auc_is_undefined_for_one_class():
    assert math.isnan(classification_metrics([1, 1], [0.2, 0.9])["roc_auc"])


def test_iou_sums_over_images_and_is_nan_for_absent_classes():
    counter = IoUCounter()
    truth = np.zeros((4, 4, 4), bool)
    truth[0, 0, :] = True  # 4 px
    predicted = np.zeros_like(truth)
    predicted[0, 0, :2] = True  # 2 px, inside
    predicted[1, 3, 3] = True  # a false grain boundary
    counter.update(predicted, truth)
    counter.update(truth, truth)  # a perfect second image: 2 + 4 of 4 + 4
    iou = counter.iou()
    assert iou["sheet_border"] == pytest.approx(6 / 8)
    assert iou["grain_boundary"] == 0.0
    assert math.isnan(iou["point_defect"])
    metrics = segmentation_metrics(iou)
    assert metrics["line_iou"] == pytest.approx((0.75 + 0.0) / 2)


def _result():
    result = CrossValResult(
        "order_classifier", "resnet34", None, 21_300_000, ("accuracy", "roc_auc")
    )
    for fold, (acc, auc) in enumerate([(0.9, 1.0), (0.8, float("nan"))], start=1):
        result.folds.append(FoldResult(fold, {"accuracy": acc, "roc_auc": auc}, 8, 2, 3, 5, 1.5))
    return result


def test_table_has_the_papers_layout():
    table = format_table({"ResNet34": _result()}, per_fold=True).splitlines()
    assert table[0] == "| network | params | accuracy | ROC AUC |"
    assert table[1] == "|---|---|---|---|"
    assert table[2] == "| ResNet34 | 21.3 M | 0.850 ± 0.050 | 1.000 ± 0.000 |"
    assert table[3] == "| ResNet34 fold 1 | | 0.900 | 1.000 |"
    assert table[4] == "| ResNet34 fold 2 | | 0.800 | — |"
    assert _result().wall_time_s() == 3.0
    assert _result().to_dict()["mean"]["accuracy"] == pytest.approx(0.85)


def _records(n, side=64):
    rng = np.random.default_rng(1)
    records = []
    for i in range(n):
        image = rng.integers(0, 60, (side, side)).astype(np.uint8)
        mask = np.zeros((4, side, side), bool)
        if i % 2 == 0:
            image[side // 3, :] = 250
            mask[0, side // 3, :] = True
        records.append(make_record(image, 1.0, label=i % 2 == 0, mask=mask))
    return records


CONFIG = TrainConfig(
    epochs=1, batch_size=4, crop_size=32, samples_per_image=1, device="cpu", progress=False
)


def test_classifier_cross_validation_runs_every_fold():
    result = cross_validate_classifier(
        _records(8), "resnet34", k=2, config=CONFIG, target_nm_per_px=1.0
    )
    assert [fold.n_test for fold in result.folds] == [4, 4]
    assert all(0.0 <= fold.metrics["accuracy"] <= 1.0 for fold in result.folds)
    assert set(result.mean()) == {"accuracy", "precision", "recall", "roc_auc"}


def test_segmenter_cross_validation_reports_iou_per_class():
    result = cross_validate_segmenter(
        _records(4), "fpn", "resnet34", k=2, config=CONFIG, val_fraction=0.0, target_nm_per_px=1.0
    )
    assert len(result.folds) == 2
    assert "iou_sheet_border" in result.mean()
    assert "line_iou" in result.mean()
    assert "IoU sheet border" in format_table({"FPN": result})


def test_segmenter_cross_validation_reports_line_metrics_per_line_class():
    records = _records(4)
    result = cross_validate_segmenter(
        records, "fpn", "resnet34", k=2, config=CONFIG, val_fraction=0.0, target_nm_per_px=1.0
    )
    assert set(SEGMENTATION_METRICS) <= set(result.mean())
    for fold in result.folds:
        metrics = fold.metrics
        # Each held-out pair holds one of the images with a sheet border (0 and 2).
        assert 0.0 <= metrics["line_f1_sheet_border"] <= 1.0
        assert 0.0 <= metrics["length_error_sheet_border"] < math.inf
        for name in LINE_CLASSES:
            f1 = metrics[f"line_f1_{name}"]
            assert math.isnan(f1) or 0.0 <= f1 <= 1.0
        defined = [metrics[f"line_f1_{name}"] for name in LINE_CLASSES]
        assert metrics["line_f1"] == pytest.approx(np.nanmean(defined))
        # Only sheet borders are drawn: no image shows the other line classes.
        assert math.isnan(metrics["length_error_grain_boundary"])
        assert math.isnan(metrics["length_error_topological_defect"])
    assert "line F1 sheet border" in format_table({"FPN": result})


def test_final_epochs_is_the_median_best_epoch():
    def fold(best: int, run: int) -> FoldResult:
        return FoldResult(0, {}, 1, 1, best_epoch=best, epochs_run=run, wall_time_s=0.0)

    result = CrossValResult("order_classifier", "resnet34", None, 1, ("roc_auc",))
    assert result.final_epochs() == 1
    result.folds = [fold(3, 10), fold(0, 7), fold(12, 20)]  # 0: no judged epoch, use all run
    assert result.final_epochs() == 7

"""Training: a real step lowers the loss, early stopping, best-epoch checkpoints, seeding."""

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ml.data import make_record, prepare_records
from ml.device import grad_scaler
from ml.persistence import load_model
from ml.recipes import SegmenterLoss, classifier_loss, fit_classifier, fit_segmenter
from ml.registry import create_model
from ml.training import TrainConfig, fit, one_cycle_lr, train_epoch

CPU = torch.device("cpu")


def _one_step_losses(model, loss_fn, inputs, targets):
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=len(inputs))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    with torch.no_grad():
        before = float(loss_fn(model(inputs), targets))
    train_epoch(model, loader, loss_fn, optimizer, grad_scaler(CPU), CPU)
    with torch.no_grad():
        after = float(loss_fn(model(inputs), targets))
    return before, after


def test_one_classifier_step_lowers_the_loss():
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet34", dropout=0.0)
    before, after = _one_step_losses(
        model, classifier_loss, torch.randn(4, 1, 32, 32), torch.tensor([1.0, 0.0, 1.0, 0.0])
    )
    assert after < before


def test_one_segmenter_step_lowers_the_loss():
    torch.manual_seed(0)
    model = create_model("defect_segmenter", "fpn", "resnet34")
    model.net.decoder.dropout = torch.nn.Identity()  # a deterministic before/after comparison
    masks = (torch.rand(2, 4, 64, 64) > 0.9).float()
    before, after = _one_step_losses(model, SegmenterLoss(), torch.randn(2, 1, 64, 64), masks)
    assert after < before


def _records(n=6, side=64):
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        image = rng.integers(0, 60, (side, side)).astype(np.uint8)
        mask = np.zeros((4, side, side), bool)
        if i % 2 == 0:
            image[:, side // 2] = 250
            mask[1, :, side // 2] = True
        records.append(make_record(image, 1.0, label=i % 2 == 0, mask=mask, key=str(i)))
    return records


def _config(tmp_path, **changes):
    settings = dict(
        epochs=2, batch_size=4, crop_size=32, samples_per_image=1, device="cpu", progress=False
    )
    settings.update(changes)
    return TrainConfig(checkpoint_dir=tmp_path / "best", **settings)


def test_fit_classifier_keeps_the_best_epoch_and_writes_it(tmp_path):
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet34", target_nm_per_px=1.0)
    records = _records()
    result = fit_classifier(model, records[:4], records[4:], _config(tmp_path))
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert {"train_loss", "roc_auc", "accuracy", "val_loss"} <= set(result.history[0])
    assert result.best_epoch in (1, 2)
    saved = load_model(tmp_path / "best")
    x = torch.randn(1, 1, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(saved(x), model.eval()(x))


def test_fit_segmenter_reports_line_iou(tmp_path):
    torch.manual_seed(0)
    model = create_model("defect_segmenter", "unet", "resnet34", target_nm_per_px=1.0)
    records = _records(4)
    result = fit_segmenter(
        model, records[:3], records[3:], _config(tmp_path, epochs=1, batch_size=2)
    )
    assert "line_iou" in result.history[0]
    assert "iou_point_defect" in result.history[0]
    assert (tmp_path / "best" / "config.json").is_file()


def test_early_stopping_restores_the_best_weights(tmp_path):
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet34", target_nm_per_px=1.0)
    dataset = TensorDataset(torch.randn(4, 1, 32, 32), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    scores = iter([0.5, 0.4, 0.3, 0.2])
    result = fit(
        model,
        dataset,
        classifier_loss,
        _config(tmp_path, epochs=4, patience=2),
        evaluate=lambda m: {"score": next(scores)},
    )
    assert result.stopped_early
    assert len(result.history) == 3
    assert result.best_epoch == 1
    assert result.best_score == 0.5
    first = load_model(tmp_path / "best").state_dict()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, first[name])


def test_the_same_seed_trains_the_same_weights(tmp_path):
    weights = []
    for run in range(2):
        torch.manual_seed(0)
        model = create_model("order_classifier", "resnet34", target_nm_per_px=1.0)
        fit_classifier(model, _records(4), None, _config(tmp_path / str(run), epochs=1, seed=3))
        weights.append(model.head[-1].weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


def test_fit_needs_labels():
    records = [make_record(np.zeros((32, 32), np.uint8), 1.0)]
    with pytest.raises(ValueError, match="order label"):
        fit_classifier(create_model("order_classifier", "resnet34"), records)


def test_a_prepared_item_at_another_scale_is_refused():
    model = create_model("order_classifier", "resnet34", target_nm_per_px=2.0)
    items = prepare_records(_records(2), 1.0)
    with pytest.raises(ValueError, match=r"prepared at 1\.0 nm/px"):
        fit_classifier(model, items)


def test_the_time_limit_stops_training(tmp_path):
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet34", target_nm_per_px=1.0)
    config = _config(tmp_path, epochs=5, time_limit_s=0.0)
    result = fit_classifier(model, _records(4), None, config)
    assert len(result.history) == 1
    assert result.stopped_early


def test_loader_processes_train_after_threaded_preparation(tmp_path):
    # Records are prepared in threads (OpenCV), then loader processes are forked:
    # a worker set-up that touched OpenCV's thread pool deadlocked here once.
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet34", target_nm_per_px=1.0)
    items = prepare_records(_records(4), 1.0, workers=2)
    # A full-size resize starts OpenCV's thread pool, as preparing real images does.
    cv2.resize(np.zeros((2048, 2048), np.float32), (1024, 1024), interpolation=cv2.INTER_AREA)
    result = fit_classifier(model, items, None, _config(tmp_path, epochs=1, num_workers=2))
    assert len(result.history) == 1


def test_one_cycle_rises_to_the_peak_then_anneals():
    assert one_cycle_lr(1e-3, 0.0) == pytest.approx(1e-3 / 25)
    assert one_cycle_lr(1e-3, 0.3) == pytest.approx(1e-3)
    assert one_cycle_lr(1e-3, 1.0) == pytest.approx(1e-7)
    rates = [one_cycle_lr(1e-3, p / 100) for p in range(101)]
    assert rates[:31] == sorted(rates[:31])
    assert rates[30:] == sorted(rates[30:], reverse=True)


def test_a_one_cycle_run_anneals_within_its_epochs(tmp_path):
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet18", target_nm_per_px=1.0)
    config = _config(tmp_path, epochs=5, samples_per_image=4, schedule="one_cycle", lr=1e-3)
    result = fit(
        model,
        TensorDataset(torch.randn(8, 1, 32, 32), torch.tensor([1.0, 0.0] * 4)),
        classifier_loss,
        config,
    )
    # 2 steps per epoch, 10 in all: epoch 2 ends past the peak (30 %), epoch 5 near the floor.
    rates = [row["lr"] for row in result.history]
    assert rates[0] < rates[1]
    assert rates[1] > rates[2] > rates[3] > rates[4]
    assert rates[4] == pytest.approx(one_cycle_lr(1e-3, 9 / 10))


def test_a_one_cycle_run_stops_when_its_time_is_spent(tmp_path):
    model = create_model("order_classifier", "resnet18", target_nm_per_px=1.0)
    config = _config(tmp_path, epochs=50, schedule="one_cycle", time_limit_s=0.0)
    result = fit_classifier(model, _records(4), None, config)
    assert len(result.history) == 1
    assert result.stopped_early


def test_channels_last_bfloat16_training_ends_with_a_standard_model(tmp_path):
    torch.manual_seed(0)
    model = create_model("order_classifier", "resnet18", target_nm_per_px=1.0)
    config = _config(tmp_path, channels_last=True, cpu_bf16=True, schedule="one_cycle")
    fit_classifier(model, _records(4), _records(2), config)
    conv = model.features[0].weight
    assert conv.is_contiguous()
    assert conv.dtype == torch.float32
    x = torch.randn(1, 1, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(load_model(tmp_path / "best")(x), model.eval()(x))


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown schedule 'cosine'; expected one of constant"):
        TrainConfig(schedule="cosine")

"""The training loop: Adam, mixed precision, early stopping, best-model checkpoints.

:func:`fit` trains any model on a dataset of ``(input, target)`` pairs with
a given loss, calls an ``evaluate`` function after each epoch, and keeps the
weights of the best epoch (highest monitored metric, ties broken by the lower
validation loss). It stops when the metric has not improved for ``patience``
epochs and restores the best weights at the end; with ``checkpoint_dir`` the
best model is also written there by :func:`ml.persistence.save_model`.
The learning rate is constant (the paper's) or follows one cycle
(:func:`one_cycle_lr`) over the run's budget: its epochs, or its time limit
when that ends first, so a run cut short by time still anneals.
Task recipes (datasets, losses, metrics) are in :mod:`ml.recipes`, the
settings chosen by device in :mod:`ml.devicerecipes`.
"""

import copy
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, get_worker_info
from tqdm.auto import tqdm

from ml.device import autocast, grad_scaler, resolve_device
from ml.persistence import save_model

#: ``evaluate(model) -> metrics``; must include the monitored key, may include ``"val_loss"``.
Evaluate = Callable[[nn.Module], dict[str, float]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Learning-rate schedules of :class:`TrainConfig`.
SCHEDULES = ("constant", "one_cycle")
# One cycle (Smith & Topin 2019, torch's OneCycleLR defaults): the first 30 % of the
# budget rises from lr / 25 to lr, the rest falls to lr / 1e4, both on half cosines.
_WARMUP_FRACTION = 0.3
_START_DIVISOR = 25.0
_END_DIVISOR = 1e4


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the paper's Adam at lr 1e-4).

    Attributes:
        epochs: most epochs to train.
        batch_size: samples per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: stop after this many epochs without improvement (``None``: never).
        seed: seed of weights, data order and augmentation.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (:func:`ml.device.resolve_device`).
        amp: mixed precision on CUDA.
        num_workers: data-loader processes; ``None``: none on CPU, up to 8 on CUDA.
        crop_size: training crop side at the model's scale, px; ``None``: the task's default.
        samples_per_image: crops per image per epoch; ``None``: the task's default.
        progress: show tqdm progress bars.
        checkpoint_dir: folder for the best model, or ``None``.
        time_limit_s: stop after the epoch during which this many seconds have
            passed (``None``: no limit), for runs that must fit a time budget; a
            one-cycle run stops at the step that spends it.
        schedule: ``"constant"`` (lr throughout) or ``"one_cycle"`` (peak ``lr``).
        channels_last: train in channels-last memory format (faster convolutions on CPUs).
        cpu_bf16: autocast to bfloat16 on a CPU that computes it natively
            (:func:`ml.device.amp_dtype`); ``amp`` must be on too.
    """

    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.0
    patience: int | None = 15
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_workers: int | None = None
    crop_size: int | None = None
    samples_per_image: int | None = None
    progress: bool = True
    checkpoint_dir: Path | None = None
    time_limit_s: float | None = None
    schedule: str = "constant"
    channels_last: bool = False
    cpu_bf16: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}"
            )

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, for a model's saved metadata."""
        data = asdict(self)
        data["checkpoint_dir"] = str(self.checkpoint_dir) if self.checkpoint_dir else None
        return data


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``lr`` (the learning rate
            of its last step) and the evaluated metrics.
        best_epoch: 1-based epoch whose weights the model holds now (0: no epoch could
            be judged, the model keeps the last epoch's weights).
        best_score: monitored metric at ``best_epoch`` (NaN if none).
        stopped_early: True if patience or the time limit ran out before ``epochs``.
        wall_time_s: seconds spent, evaluation included.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("nan")
    stopped_early: bool = False
    wall_time_s: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and make cuDNN pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _seed_worker(worker_id: int) -> None:
    # torch gives each worker its own seed per epoch; albumentations keeps its
    # own generators, so they are reseeded from it too.
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, "set_seed"):
        info.dataset.set_seed(seed)


def make_loader(dataset: Dataset, config: TrainConfig, device: torch.device) -> DataLoader:
    """Shuffling loader of ``dataset`` seeded by ``config.seed``; drops a last batch of one."""
    workers = config.num_workers
    if workers is None:
        workers = 0 if device.type == "cpu" else min(8, max(1, (os.cpu_count() or 2) - 1))
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=workers,
        worker_init_fn=_seed_worker,
        generator=generator,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        # A batch of one breaks batch normalisation in training mode.
        drop_last=len(dataset) % config.batch_size == 1,
    )


def one_cycle_lr(peak: float, progress: float) -> float:
    """Learning rate of one cycle peaking at ``peak``, at ``progress`` ∈ [0, 1] of the budget."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < _WARMUP_FRACTION:
        start, end, t = peak / _START_DIVISOR, peak, progress / _WARMUP_FRACTION
    else:
        t = (progress - _WARMUP_FRACTION) / (1.0 - _WARMUP_FRACTION)
        start, end = peak, peak / _END_DIVISOR
    return end + (start - end) * (1.0 + math.cos(math.pi * t)) / 2.0


class _Budget:
    """The run's progress through its epochs or its time, and the one-cycle rate it sets.

    ``step()`` is called before every optimiser step; it sets the learning rate of a
    one-cycle run and says whether the budget allows that step.
    """

    def __init__(
        self, config: TrainConfig, optimizer: torch.optim.Optimizer, steps: int, started: float
    ) -> None:
        self.config, self.optimizer = config, optimizer
        self.total_steps, self.started, self.taken = max(steps, 1), started, 0

    def progress(self) -> float:
        by_steps = self.taken / self.total_steps
        if self.config.time_limit_s is None:
            return by_steps
        if self.config.time_limit_s <= 0:
            return 1.0
        return max(by_steps, (time.perf_counter() - self.started) / self.config.time_limit_s)

    def step(self) -> bool:
        if self.config.schedule == "constant":
            return True
        progress = self.progress()
        if progress >= 1.0:
            return False
        for group in self.optimizer.param_groups:
            group["lr"] = one_cycle_lr(self.config.lr, progress)
        self.taken += 1
        return True

    def spent(self) -> bool:
        return self.config.schedule == "one_cycle" and self.progress() >= 1.0


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp: bool = True,
    progress: bool = False,
    description: str = "train",
    *,
    cpu_bf16: bool = False,
    channels_last: bool = False,
    before_step: Callable[[], bool] | None = None,
) -> float:
    """One pass over ``loader``; returns the mean training loss per sample.

    ``before_step`` (e.g. a learning-rate schedule) is called before every step and
    ends the pass early by returning False; ``cpu_bf16`` and ``channels_last`` as in
    :class:`TrainConfig`.
    """
    model.train()
    total, count = 0.0, 0
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for inputs, targets in tqdm(loader, desc=description, leave=False, disable=not progress):
        if before_step is not None and not before_step():
            break
        inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
        targets = targets.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp, cpu=cpu_bf16):
            outputs = model(inputs)
        # The loss in float32: sigmoid cross-entropy and Dice lose accuracy in half precision.
        loss = loss_fn(outputs.float(), targets)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += float(loss.detach()) * len(inputs)
        count += len(inputs)
    return total / max(count, 1)


def _better(score: float, loss: float, best_score: float, best_loss: float) -> bool:
    if math.isnan(score):  # e.g. ROC AUC of a one-class validation set: judge by loss
        return math.isnan(best_score) and loss < best_loss
    if math.isnan(best_score) or score > best_score:
        return True
    return score == best_score and loss < best_loss


def fit(
    model: nn.Module,
    dataset: Dataset,
    loss_fn: LossFn,
    config: TrainConfig,
    evaluate: Evaluate | None = None,
    monitor: str = "score",
    description: str = "epochs",
) -> TrainResult:
    """Train ``model`` in place; it ends with the best epoch's weights.

    Args:
        model: the network; moved to ``config.device``.
        dataset: ``(input, target)`` training pairs.
        loss_fn: ``loss_fn(outputs, targets)`` → scalar, outputs in float32.
        config: :class:`TrainConfig`.
        evaluate: validation after each epoch; ``None`` keeps the last epoch.
        monitor: key of ``evaluate``'s result to maximise.
        description: label of the progress bar.

    Returns:
        :class:`TrainResult`.
    """
    started = time.perf_counter()
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    loader = make_loader(dataset, config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = grad_scaler(device, config.amp)
    budget = _Budget(config, optimizer, config.epochs * len(loader), started)
    result = TrainResult()
    best_loss, best_state, stale = math.inf, None, 0
    bar = tqdm(range(1, config.epochs + 1), desc=description, disable=not config.progress)
    for epoch in bar:
        train_loss = train_epoch(
            model,
            loader,
            loss_fn,
            optimizer,
            scaler,
            device,
            config.amp,
            config.progress,
            cpu_bf16=config.cpu_bf16,
            channels_last=config.channels_last,
            before_step=budget.step,
        )
        metrics = evaluate(model) if evaluate is not None else {}
        lr = optimizer.param_groups[0]["lr"]
        result.history.append({"epoch": epoch, "train_loss": train_loss, "lr": lr, **metrics})
        bar.set_postfix(loss=f"{train_loss:.4f}", **{monitor: f"{metrics.get(monitor, 0):.3f}"})
        if evaluate is None:
            result.best_epoch = epoch
        elif _better(
            metrics[monitor], metrics.get("val_loss", math.inf), result.best_score, best_loss
        ):
            result.best_epoch, result.best_score = epoch, metrics[monitor]
            best_loss, stale = metrics.get("val_loss", math.inf), 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            if config.checkpoint_dir is not None:
                save_model(model, config.checkpoint_dir, {"epoch": epoch, **metrics})
        else:
            stale += 1
        out_of_patience = config.patience is not None and stale >= config.patience
        elapsed = time.perf_counter() - started
        out_of_time = config.time_limit_s is not None and elapsed > config.time_limit_s
        if out_of_patience or out_of_time or budget.spent():
            result.stopped_early = epoch < config.epochs
            break
    if config.channels_last:
        model.to(memory_format=torch.contiguous_format)
    if best_state is not None:
        model.load_state_dict(best_state)
    elif config.checkpoint_dir is not None:
        save_model(model, config.checkpoint_dir, {"epoch": result.best_epoch})
    result.wall_time_s = time.perf_counter() - started
    return result

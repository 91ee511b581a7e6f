"""Benchmark of the CPU training recipe against the paper's, on this machine's CPU.

Run: ``python bench/bench_cpu_recipe.py`` (the demo's 12 images, about 12
minutes on 2 cores) or ``--images 200 --fold-minutes 3`` (the 200-image bar).

Two measurements, each of both recipes (:mod:`ml.devicerecipes`) in the same run:

* speed: order-classifier training crops per second (batch 16, forward,
  backward and an Adam step, each recipe's network, crop and precision),
  and the ratio CPU / paper;
* learning: stratified k-fold cross-validation of the order classifier on a
  rendered data set (:func:`simulation.dataset.write_dataset`, balanced
  classes; by default the demo's: 12 images, seed 2021), each fold trained for
  ``--fold-minutes`` with the recipe's settings; the mean ROC AUC of the folds
  with each fold's wall time.

Goals (issue 15): the CPU recipe's 5-fold ROC AUC >= 0.95 on the demo images;
on 200 images >= 0.95 within 20 minutes of training.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.crossval import cross_validate_classifier, format_table
from ml.data import read_folder
from ml.device import cpu_bf16_supported, grad_scaler
from ml.devicerecipes import AUTO, CPU, PAPER, Recipe
from ml.recipes import classifier_loss
from ml.registry import create_model
from ml.training import TrainConfig, train_epoch
from simulation.dataset import write_dataset

TASK = "order_classifier"
SPEED_BATCH = 16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12, help="rendered images (12)")
    parser.add_argument("--seed", type=int, default=2021, help="data set seed (the demo's)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-minutes", type=float, default=1.0, help="training per fold")
    parser.add_argument("--speed-seconds", type=float, default=10.0, help="timing per recipe")
    parser.add_argument("--recipes", default="cpu,paper", help="comma-separated (cpu,paper)")
    parser.add_argument("--data", type=Path, help="reuse or keep the data set here")
    return parser.parse_args()


def crops_per_second(recipe: Recipe, seconds: float) -> float:
    """Training crops per second of ``recipe``'s classifier: passes of the training loop
    (:func:`ml.training.train_epoch`) over batches of random crops."""
    torch.manual_seed(0)
    model = create_model(TASK, recipe.architecture(TASK, AUTO), **recipe.model_kwargs(TASK))
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    side = recipe.classifier_crop_px
    crops = TensorDataset(torch.randn(SPEED_BATCH, 1, side, side), torch.rand(SPEED_BATCH).round())
    loader = DataLoader(crops, batch_size=SPEED_BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    cpu = torch.device("cpu")

    def one_step() -> None:
        train_epoch(
            model,
            loader,
            classifier_loss,
            optimizer,
            grad_scaler(cpu),
            cpu,
            cpu_bf16=recipe.cpu_bf16,
            channels_last=recipe.channels_last,
        )

    one_step()  # first-call set-up (oneDNN kernels) is not counted
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        one_step()
        steps += 1
    return steps * SPEED_BATCH / (time.perf_counter() - started)


def timed_config(recipe: Recipe, minutes: float, seed: int = 0) -> TrainConfig:
    """``recipe``'s classifier settings on the CPU for a fit that stops after ``minutes``."""
    config = TrainConfig(
        epochs=1000,
        patience=None,
        seed=seed,
        device="cpu",
        progress=False,
        time_limit_s=60.0 * minutes,
    )
    return recipe.train_config(TASK, config)


def cross_validated(recipe: Recipe, records: list, folds: int, minutes: float) -> dict:
    """k-fold cross-validation of ``recipe``'s classifier: table, mean ROC AUC, s per fold."""
    cv = cross_validate_classifier(
        records,
        recipe.architecture(TASK, AUTO),
        k=folds,
        config=timed_config(recipe, minutes),
        val_fraction=recipe.validation_fraction,
        **recipe.model_kwargs(TASK),
    )
    return {
        "table": format_table({recipe.name: cv}, per_fold=True),
        "mean_auc": cv.mean()["roc_auc"],
        "fold_s": [round(fold.wall_time_s) for fold in cv.folds],
    }


def main() -> None:
    args = parse_args()
    recipes = [{"cpu": CPU, "paper": PAPER}[name] for name in args.recipes.split(",")]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"native bfloat16: {cpu_bf16_supported()}"
    )
    speeds = {recipe.name: crops_per_second(recipe, args.speed_seconds) for recipe in recipes}
    for name, speed in speeds.items():
        print(f"speed {name}: {speed:.1f} training crops/s")
    if {"cpu", "paper"} <= set(speeds):
        print(f"speed ratio cpu / paper: {speeds['cpu'] / speeds['paper']:.1f}x")

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data or Path(scratch) / "data"
        if not (folder / "manifest.json").exists():
            write_dataset(folder, args.images, args.seed, ordered_fraction=0.5)
        records = read_folder(folder, masks=False)
        print(f"{len(records)} rendered images (seed {args.seed}), {args.folds} folds")
        for recipe in recipes:
            started = time.perf_counter()
            result = cross_validated(recipe, records, args.folds, args.fold_minutes)
            print(result["table"])
            print(
                f"{recipe.name}: mean fold ROC AUC {result['mean_auc']:.3f}; fold seconds "
                f"{result['fold_s']}, all {time.perf_counter() - started:.0f} s"
            )


if __name__ == "__main__":
    main()

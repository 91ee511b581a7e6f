"""Quality check: 5-fold cross-validation of the order classifier and a defect segmenter.

Run on a GPU machine (full setting, under ~8 min)::

    python bench/train_eval.py --full --device auto

or on a CPU as a smoke test (``--quick``, tiny images, under ~3 min). With
neither flag the full setting runs where CUDA is present, the quick one
elsewhere (so ``make bench`` stays short on a laptop).

Steps, each timed: a labelled synthetic data set is written by
:func:`simulation.dataset.write_dataset` (in parallel parts); the ResNet34
classifier is cross-validated on all images (stratified folds), the segmenter
on the first ``--n-segmenter`` ordered ones; the paper's Table-1-style
tables, per-fold rows, training wall times and the goals (classifier ROC AUC
≥ 0.98, segmenter mean IoU of the line classes ≥ 0.5) are printed. Each fold
trains at most ``--*-minutes / folds`` of wall time, so the run fits its budget
whatever the machine; ``--out`` keeps the data and a ``results.json``.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import segmenters
from ml.crossval import (
    CrossValResult,
    FoldResult,
    cross_validate_classifier,
    cross_validate_segmenter,
    format_table,
)
from ml.data import LabelledImage, read_folder
from ml.device import amp_dtype, resolve_device
from ml.training import TrainConfig
from simulation.dataset import MAGNIFICATIONS, write_dataset

# Full: the paper's image size and magnifications. Quick: small fields at
# higher magnification, so that pixel sizes (0.8-1.2 nm) stay realistic.
SETTINGS = {
    "full": {
        "n_classifier": 200,
        "n_segmenter": 40,
        "shape": (890, 1280),
        "magnifications": MAGNIFICATIONS,
        "classifier_epochs": 60,
        "segmenter_epochs": 80,
        "classifier_minutes": 2.5,
        "segmenter_minutes": 4.25,
        "classifier_crop": 256,
        "segmenter_crop": 192,
        "classifier_samples": 8,
        "segmenter_samples": 16,
        "batch_size": 16,
        "patience": 15,
    },
    "quick": {
        "n_classifier": 20,
        "n_segmenter": 8,
        "shape": (192, 256),
        "magnifications": (400_000, 600_000),
        "classifier_epochs": 2,
        "segmenter_epochs": 2,
        "classifier_minutes": 1.0,
        "segmenter_minutes": 1.0,
        "classifier_crop": 64,
        "segmenter_crop": 96,
        "classifier_samples": 1,
        "segmenter_samples": 2,
        "batch_size": 8,
        "patience": 15,
    },
}
AUC_GOAL = 0.98
LINE_IOU_GOAL = 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the GPU setting (default with CUDA)")
    mode.add_argument("--quick", action="store_true", help="tiny CPU setting (default without)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (auto)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-classifier", type=int, help="images for the classifier")
    parser.add_argument("--n-segmenter", type=int, help="ordered images for the segmenter")
    parser.add_argument("--classifier-epochs", type=int)
    parser.add_argument("--segmenter-epochs", type=int)
    parser.add_argument("--classifier-minutes", type=float, help="training budget, all folds")
    parser.add_argument("--segmenter-minutes", type=float, help="training budget, all folds")
    parser.add_argument("--classifier-samples", type=int, help="crops per image per epoch")
    parser.add_argument("--segmenter-samples", type=int, help="crops per image per epoch")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--segmenter-arch", default="fpn", choices=tuple(segmenters.ARCHITECTURES))
    parser.add_argument("--segmenter-encoder", default="resnet34", choices=segmenters.ENCODERS)
    parser.add_argument("--classifier-nm-per-px", type=float, help="classifier scale (2.0)")
    parser.add_argument("--segmenter-nm-per-px", type=float, help="segmenter scale (0.6)")
    parser.add_argument("--skip-classifier", action="store_true")
    parser.add_argument("--skip-segmenter", action="store_true")
    parser.add_argument("--jobs", type=int, default=None, help="processes writing the data set")
    parser.add_argument("--data", type=Path, help="reuse this data folder (parts inside)")
    parser.add_argument("--out", type=Path, help="keep data and results.json here")
    parser.add_argument("--progress", action="store_true", help="tqdm bars per epoch")
    args = parser.parse_args()
    quick = args.quick or (not args.full and not torch.cuda.is_available())
    args.mode = "quick" if quick else "full"
    for key, value in SETTINGS[args.mode].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def scale(nm_per_px: float | None) -> dict[str, float]:
    """Model keyword arguments for a scale given on the command line (none: the default)."""
    return {"target_nm_per_px": nm_per_px} if nm_per_px else {}


def _write_part(out: Path, n: int, seed: int, shape: tuple[int, int], magnifications) -> None:
    write_dataset(out, n, seed, shape=shape, magnifications=magnifications)


def make_data(folder: Path, args: argparse.Namespace) -> list[LabelledImage]:
    """Write the data set in parallel parts (unless present) and read it back."""
    if not any(folder.glob("part-*/manifest.json")):
        jobs = args.jobs or max(1, min(16, (os.cpu_count() or 2) - 1))
        sizes = [args.n_classifier // jobs + (i < args.n_classifier % jobs) for i in range(jobs)]
        with ProcessPoolExecutor(jobs) as pool:
            futures = [
                pool.submit(
                    _write_part,
                    folder / f"part-{i:02d}",
                    n,
                    args.seed * 1000 + i,
                    args.shape,
                    args.magnifications,
                )
                for i, n in enumerate(sizes)
                if n
            ]
            for future in futures:
                future.result()
    records = []
    for part in sorted(folder.glob("part-*")):
        records += read_folder(part)
    return records


def report_fold(name: str, monitor: str):
    """Print a fold's test metrics and its learning curve as soon as it is done."""

    def report(fold: FoldResult) -> None:
        metrics = ", ".join(f"{key} {value:.3f}" for key, value in fold.metrics.items())
        curve = " ".join(f"{row.get(monitor, float('nan')):.2f}" for row in fold.history)
        losses = " ".join(
            f"{row['train_loss']:.3f}" for row in fold.history[:: max(1, len(fold.history) // 8)]
        )
        print(
            f"  {name} fold {fold.fold}: {metrics}; best epoch {fold.best_epoch} of "
            f"{fold.epochs_run}, {fold.wall_time_s:.0f} s\n"
            f"    validation {monitor} by epoch: {curve}\n    train loss (sampled): {losses}",
            flush=True,
        )

    return report


def train_config(args: argparse.Namespace, task: str) -> TrainConfig:
    return TrainConfig(
        epochs=getattr(args, f"{task}_epochs"),
        batch_size=args.batch_size,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        crop_size=getattr(args, f"{task}_crop"),
        samples_per_image=getattr(args, f"{task}_samples"),
        progress=args.progress,
        time_limit_s=getattr(args, f"{task}_minutes") * 60 / args.folds,
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        data = args.data or root / "data"
        started = time.perf_counter()
        # The data set is written by forked processes before CUDA is initialised here.
        records = make_data(data, args)
        device = resolve_device(args.device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(
            f"mode {args.mode}; device {device} ({name}), autocast {amp_dtype(device)}; "
            f"torch {torch.__version__}; {os.cpu_count()} CPUs",
            flush=True,
        )
        n_ordered = sum(r.label == 1 for r in records)
        sizes = [r.pixel_size_nm for r in records]
        print(
            f"data: {len(records)} images ({n_ordered} ordered), "
            f"{args.shape[1]} x {args.shape[0]} px, {min(sizes):.2f}-{max(sizes):.2f} nm/px, "
            f"written and read in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        results: dict[str, CrossValResult] = {}
        times: dict[str, float] = {}
        if not args.skip_classifier:
            config = train_config(args, "classifier")
            kwargs = scale(args.classifier_nm_per_px)
            print(
                f"classifier ResNet34, {args.folds}-fold: {config.to_dict()} {kwargs}", flush=True
            )
            started = time.perf_counter()
            results["ResNet34 classifier"] = cross_validate_classifier(
                records,
                "resnet34",
                k=args.folds,
                config=config,
                on_fold=report_fold("ResNet34", "roc_auc"),
                **kwargs,
            )
            times["ResNet34 classifier"] = time.perf_counter() - started
        if not args.skip_segmenter:
            config = train_config(args, "segmenter")
            segmenter_records = [r for r in records if r.label == 1][: args.n_segmenter]
            label = f"{args.segmenter_arch.upper()} + {args.segmenter_encoder}"
            kwargs = scale(args.segmenter_nm_per_px)
            print(
                f"segmenter {label} on {len(segmenter_records)} ordered images, "
                f"{args.folds}-fold: {config.to_dict()} {kwargs}",
                flush=True,
            )
            started = time.perf_counter()
            results[f"{label} segmenter"] = cross_validate_segmenter(
                segmenter_records,
                args.segmenter_arch,
                args.segmenter_encoder,
                k=args.folds,
                config=config,
                on_fold=report_fold(label, "line_iou"),
                **kwargs,
            )
            times[f"{label} segmenter"] = time.perf_counter() - started

        for row, result in results.items():
            print(f"\n{row}: {args.folds}-fold CV, training + evaluation {times[row]:.0f} s")
            print(format_table({row: result}, per_fold=True))
        print()
        for row, result in results.items():
            mean = result.mean()
            if "roc_auc" in mean:
                verdict = "PASS" if mean["roc_auc"] >= AUC_GOAL else "FAIL"
                print(f"{verdict}: {row} mean ROC AUC {mean['roc_auc']:.3f} (goal >= {AUC_GOAL})")
            else:
                verdict = "PASS" if mean["line_iou"] >= LINE_IOU_GOAL else "FAIL"
                print(
                    f"{verdict}: {row} mean line-class IoU {mean['line_iou']:.3f} "
                    f"(goal >= {LINE_IOU_GOAL})"
                )
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            summary = {
                "settings": {k: v for k, v in vars(args).items() if k not in ("data", "out")},
                "results": {row: result.to_dict() for row, result in results.items()},
                "times_s": times,
            }
            (args.out / "results.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()

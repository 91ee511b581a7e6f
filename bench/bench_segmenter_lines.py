"""The CPU-recipe defect segmenter judged by line metrics on held-out rendered images.

Run: ``python bench/bench_segmenter_lines.py --images 12 --minutes 4`` (about
7 minutes on 2 cores: rendering, training, and scoring with thresholds
chosen on the training images). On a shared machine the epochs trained in
the minutes vary; ``--epochs N --minutes 60`` fixes the budget instead.

Renders ``--images`` ordered images (:func:`simulation.dataset.synthesize_image`,
1280 x 890 px, magnifications drawn from :data:`simulation.dataset.MAGNIFICATIONS`;
the truth is what each image shows, ``.labels``), holds a quarter out, trains
the CPU recipe's segmenter (:data:`ml.devicerecipes.CPU`: FPN-ResNet18 at
1.2 nm/px on 128 px crops, one learning-rate cycle) for ``--minutes`` on the
rest with :func:`ml.recipes.fit_segmenter`, and scores the held-out images as
cross-validation does (:func:`ml.metrics.score_masks`): per line class the
tolerant skeleton F1 (2 px), the median absolute relative skeleton-length
error, and strict IoU.

Two changes are measured against that baseline:

* ``threshold``: per line class, the probability threshold that maximises
  the pooled line F1 on the training images (a grid of :data:`THRESHOLDS`),
  applied to the held-out images; the training itself is unchanged;
* ``--foreground-crops P``: a second model trained with a share ``P`` of
  its crop windows centred on a line-defect pixel (albumentations'
  ``CropNonEmptyMaskIfExists``) instead of anywhere, so that the rare classes
  are seen more often; scored at 0.5 and at its own chosen thresholds.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.defects import DEFECT_CLASSES, LINE_CLASSES, POINT_DEFECT, channel
from analysis.linemetrics import LineScores
from ml.augment import paper_transforms, window_side
from ml.data import DefectDataset, PreparedImage, make_record
from ml.devicerecipes import AUTO, CPU
from ml.inference import segment_prepared
from ml.metrics import score_masks
from ml.recipes import MASK_THRESHOLD, SegmenterLoss, at_model_scale, fit_segmenter
from ml.registry import create_model
from ml.spec import DEFECT_SEGMENTER
from ml.training import TrainConfig, fit
from simulation.dataset import MAGNIFICATIONS, synthesize_image

#: Probability thresholds searched on the training images.
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12, help="rendered ordered images (12)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time per model")
    parser.add_argument("--seed", type=int, default=2021, help="seed of images and training")
    parser.add_argument(
        "--epochs",
        type=int,
        default=10_000,
        help="at most this many epochs per model: fix it to compare models under varying load",
    )
    parser.add_argument(
        "--foreground-crops",
        type=float,
        default=0.0,
        help="also train a model with this share of crops on defects (0: skip)",
    )
    return parser.parse_args()


def render(n_images: int, seed: int) -> list:
    """``n_images`` ordered records with the defects each image shows as its mask."""
    rng = np.random.default_rng(seed)
    records = []
    for image_seed, magnification in zip(
        rng.integers(0, 2**31 - 1, n_images), rng.choice(MAGNIFICATIONS, n_images), strict=True
    ):
        synthetic = synthesize_image(int(image_seed), True, magnification=float(magnification))
        records.append(
            make_record(
                synthetic.image,
                synthetic.pixel_size_nm,
                label=1,
                mask=synthetic.labels,
                key=f"{image_seed}@{magnification // 1000:.0f}k",
            )
        )
    return records


def new_model() -> nn.Module:
    return create_model(
        DEFECT_SEGMENTER,
        CPU.architecture(DEFECT_SEGMENTER, AUTO),
        CPU.encoder(DEFECT_SEGMENTER, AUTO),
        **CPU.model_kwargs(DEFECT_SEGMENTER),
    )


def train_config(minutes: float, epochs: int, seed: int) -> TrainConfig:
    """The CPU recipe's settings for ``minutes`` or ``epochs``, whichever ends first
    (its one learning-rate cycle spans that budget)."""
    config = TrainConfig(
        epochs=epochs, device="cpu", progress=False, seed=seed, time_limit_s=60.0 * minutes
    )
    return CPU.train_config(DEFECT_SEGMENTER, config)


def foreground_dataset(
    items: Sequence[PreparedImage], config: TrainConfig, share: float
) -> DefectDataset:
    """:class:`ml.data.DefectDataset` whose crop windows are centred on a line-defect
    pixel with probability ``share``, anywhere otherwise (the augmentations are the paper's)."""
    dataset = DefectDataset(items, config.crop_size, config.samples_per_image, seed=config.seed)
    window = window_side(config.crop_size)
    dataset.transform = A.Compose(
        [
            A.PadIfNeeded(window, window, border_mode=cv2.BORDER_REFLECT_101),
            A.OneOf(
                [
                    A.CropNonEmptyMaskIfExists(
                        window, window, ignore_channels=[channel(POINT_DEFECT)], p=share
                    ),
                    A.RandomCrop(window, window, p=1.0 - share),
                ],
                p=1.0,
            ),
            *paper_transforms(),
            A.CenterCrop(config.crop_size, config.crop_size),
        ],
        seed=config.seed,
    )
    return dataset


def probabilities(model: nn.Module, items: Sequence[PreparedImage]) -> list[np.ndarray]:
    """(4, h, w) defect probabilities of each item."""
    return [segment_prepared(model, item.unit) for item in items]


def masks_at(probs: Sequence[np.ndarray], thresholds: np.ndarray) -> list[np.ndarray]:
    """(4, h, w) bool masks, each channel at its threshold ((4,) array)."""
    return [p >= thresholds[:, None, None] for p in probs]


def chosen_thresholds(probs: Sequence[np.ndarray], items: Sequence[PreparedImage]) -> np.ndarray:
    """(4,) thresholds: per line class the one of :data:`THRESHOLDS` with the best pooled
    line F1 on ``items`` (ties: the one nearest 0.5); point defects keep 0.5."""
    f1 = {name: [] for name in LINE_CLASSES}
    for threshold in THRESHOLDS:
        scores = LineScores()
        for mask, item in zip(masks_at(probs, np.full(4, threshold)), items, strict=True):
            scores.update(mask, item.mask)
        for name, value in scores.f1().items():
            f1[name].append(np.nan_to_num(value))
    chosen = np.full(len(DEFECT_CLASSES), MASK_THRESHOLD)
    order = np.argsort(np.abs(np.array(THRESHOLDS) - MASK_THRESHOLD), kind="stable")
    for name, values in f1.items():
        chosen[channel(name)] = THRESHOLDS[order[np.argmax(np.array(values)[order])]]
    return chosen


def report(label: str, probs: Sequence[np.ndarray], test: Sequence[PreparedImage], thresholds):
    """Print one row per line class of the held-out metrics at ``thresholds``."""
    metrics = score_masks(masks_at(probs, thresholds), [item.mask for item in test], lines=True)
    for name in LINE_CLASSES:
        print(
            f"| {label} | {name} | {thresholds[channel(name)]:.1f} "
            f"| {metrics[f'line_f1_{name}']:.3f} | {metrics[f'length_error_{name}']:.3f} "
            f"| {metrics[f'iou_{name}']:.3f} |"
        )
    print(f"| {label} | mean | | {metrics['line_f1']:.3f} | | {metrics['line_iou']:.3f} |")


def trained_and_scored(label, model, train, test) -> None:
    """Report ``model`` at 0.5 and at thresholds chosen on its training images."""
    test_probs = probabilities(model, test)
    report(f"{label} @0.5", test_probs, test, np.full(len(DEFECT_CLASSES), MASK_THRESHOLD))
    started = time.perf_counter()
    chosen = chosen_thresholds(probabilities(model, train), train)
    report(f"{label} @chosen", test_probs, test, chosen)
    print(f"  ({label}: thresholds chosen in {time.perf_counter() - started:.0f} s)")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    records = render(args.images, args.seed)
    order = np.random.default_rng(args.seed).permutation(len(records))
    n_test = max(1, round(len(records) / 4))
    model = new_model()
    items = at_model_scale(records, model, masks=True)
    train = [items[i] for i in order[n_test:]]
    test = [items[i] for i in order[:n_test]]
    print(
        f"{len(records)} images rendered and prepared in {time.perf_counter() - started:.0f} s; "
        f"train {len(train)}, held out {len(test)} ({', '.join(item.key for item in test)})"
    )
    for name in LINE_CLASSES:
        held_out = sum(int(item.mask[channel(name)].sum()) for item in test)
        print(f"  held-out {name} pixels at {CPU.segmenter_nm_per_px} nm/px: {held_out}")
    print("| model | class | threshold | line F1 | length error | IoU |")
    print("|---|---|---|---|---|---|")

    config = train_config(args.minutes, args.epochs, args.seed)
    result = fit_segmenter(model, train, None, config)
    print(f"  (baseline: {len(result.history)} epochs in {result.wall_time_s:.0f} s)")
    trained_and_scored("baseline", model, train, test)

    if args.foreground_crops > 0:
        model = new_model()
        dataset = foreground_dataset(train, config, args.foreground_crops)
        result = fit(model, dataset, SegmenterLoss(), config, description="segmenter")
        print(f"  (foreground: {len(result.history)} epochs in {result.wall_time_s:.0f} s)")
        trained_and_scored(f"foreground {args.foreground_crops:.2f}", model, train, test)
    print(f"all {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

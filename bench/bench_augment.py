"""Training-crop cost: NanoMark's augmentation vs padding the whole image first.

Run: ``python bench/bench_augment.py`` (about 10 s). A synthetic 50,000×
image (1280 × 890 px at 1.98 nm/px, :mod:`simulation.dataset`) is prepared at
the segmenter's 0.6 nm/px (about 4224 × 2937 px, with its 4-layer mask) and
at the classifier's 2.0 nm/px, and the time per training crop of
:func:`ml.augment.segmenter_augmentation` (192 px) and
:func:`ml.augment.classifier_augmentation` (256 px) is printed next to, in
the same run,

* the baseline: the same pipeline behind ``A.PadIfNeeded`` on the whole
  image, which copies the image (and mask) for every crop, as it did before;
* the floor: slicing and copying the 1.5× window the transforms start from.

Median of ``--repeats`` crops each, the pipelines alternated (:mod:`bench.timing`).
"""

import argparse
import sys
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import paired_times
from ml.augment import classifier_augmentation, segmenter_augmentation, window_side
from ml.data import prepare_image, prepare_mask
from simulation.dataset import synthesize_image


def whole_image_padding(pipeline: A.Compose, crop_size: int) -> A.Compose:
    """The baseline: ``pipeline`` behind a pad of the whole image to the window size."""
    window = window_side(crop_size)
    pad = A.PadIfNeeded(window, window, border_mode=cv2.BORDER_REFLECT_101)
    return A.Compose([pad, *pipeline.transforms], seed=0)


def window_copy(image: np.ndarray, crop_size: int, rng: np.random.Generator) -> np.ndarray:
    """The floor: copy one random window of the size the transforms start from."""
    window = window_side(crop_size)
    y = int(rng.integers(0, image.shape[0] - window + 1))
    x = int(rng.integers(0, image.shape[1] - window + 1))
    return image[y : y + window, x : x + window].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    synthetic = synthesize_image(0, ordered=True, magnification=50_000)
    rng = np.random.default_rng(0)
    cases = []
    unit = prepare_image(synthetic.image, synthetic.pixel_size_nm, 0.6)
    mask = prepare_mask(synthetic.labels, synthetic.pixel_size_nm, 0.6).transpose(1, 2, 0)
    mask = np.ascontiguousarray(mask)
    cases.append(("segmenter 192 px", segmenter_augmentation(192, seed=0), 192, unit, mask))
    unit = prepare_image(synthetic.image, synthetic.pixel_size_nm, 2.0)
    cases.append(("classifier 256 px", classifier_augmentation(256, seed=0), 256, unit, None))
    print(f"ms per crop, median of {args.repeats}; image at the model's scale")
    for name, pipeline, crop, image, layers in cases:
        extra = {} if layers is None else {"mask": layers}
        baseline = whole_image_padding(pipeline, crop)
        ours, padded = paired_times(
            lambda p=pipeline, i=image, e=extra: p(image=i, **e),
            lambda p=baseline, i=image, e=extra: p(image=i, **e),
            args.repeats,
        )
        floor, _ = paired_times(
            lambda i=image, c=crop: window_copy(i, c, rng), lambda: None, args.repeats
        )
        print(
            f"{name} on {image.shape[1]} x {image.shape[0]} px: NanoMark {ours * 1e3:.2f}, "
            f"whole-image padding {padded * 1e3:.2f} ({padded / ours:.1f}x slower), "
            f"window copy {floor * 1e3:.3f} (NanoMark {ours / floor:.0f}x the floor)"
        )


if __name__ == "__main__":
    main()

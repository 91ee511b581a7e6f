"""Training augmentations of Boiko et al. (2021), with albumentations.

The paper lists: flips (p 0.5); shift / scale ±0.1 / rotate ±45° (p 1);
grid distortion (p 0.5); one of sharpen, blur, motion blur (p 0.9); random
contrast (p 0.9); random 192 × 192 crops for the segmenter. Its "shift ±0.6"
is read as albumentations' default shift limit, 0.0625 of the side: a 60 %
shift would move most of a crop out of view.

To keep the cost independent of the image size, a random window 1.5 × the
crop side is cut first, transformed, and its centre kept: that margin covers
a 45° rotation at 0.9 scale, so the kept crop rarely shows the reflected border.
Only a window larger than the image is padded (by reflection): padding the
whole image first would copy it for every crop, which at a segmenter's
0.6 nm/px (up to 4224 × 2937 px) cost ~10 ms per crop, most of the loading
time (``bench/bench_augment.py``).
Inputs are (H, W) float32 images in [0, 1] and (H, W, 4) uint8 masks.
"""

import math
import os

# albumentations asks PyPI for a newer version when imported unless told not
# to; NanoMark never reaches the network (workers may have none at all).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A
import cv2

# Window cut before the geometric transforms, relative to the crop side.
_WINDOW_FACTOR = 1.5
_SHIFT = 0.0625
_SCALE = 0.1
_ROTATE_DEG = 45.0
_CONTRAST = 0.2


def paper_transforms() -> list[A.BasicTransform]:
    """The paper's augmentations, without the crops, in the order it lists them."""
    reflect = cv2.BORDER_REFLECT_101
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.Affine(
            translate_percent=(-_SHIFT, _SHIFT),
            scale=(1.0 - _SCALE, 1.0 + _SCALE),
            rotate=(-_ROTATE_DEG, _ROTATE_DEG),
            border_mode=reflect,
            p=1.0,
        ),
        A.GridDistortion(border_mode=reflect, p=0.5),
        A.OneOf([A.Sharpen(), A.Blur(blur_limit=3), A.MotionBlur(blur_limit=3)], p=0.9),
        A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=_CONTRAST, p=0.9),
    ]


def window_side(crop_size: int) -> int:
    """Side of the window cut before the geometric transforms, px (1.5 × the crop side)."""
    return math.ceil(crop_size * _WINDOW_FACTOR)


def _cropped(crop_size: int, augment: bool, seed: int | None) -> A.Compose:
    reflect = cv2.BORDER_REFLECT_101
    if not augment:
        return A.Compose(
            [A.CenterCrop(crop_size, crop_size, pad_if_needed=True, border_mode=reflect)],
            seed=seed,
        )
    window = window_side(crop_size)
    return A.Compose(
        [
            A.RandomCrop(window, window, pad_if_needed=True, border_mode=reflect),
            *paper_transforms(),
            A.CenterCrop(crop_size, crop_size),
        ],
        seed=seed,
    )


def classifier_augmentation(
    crop_size: int = 256, *, augment: bool = True, seed: int | None = None
) -> A.Compose:
    """Random augmented ``crop_size`` crops of a whole image (centre crops if not ``augment``)."""
    return _cropped(crop_size, augment, seed)


def segmenter_augmentation(
    crop_size: int = 192, *, augment: bool = True, seed: int | None = None
) -> A.Compose:
    """Random augmented ``crop_size`` crops (the paper: 192) of an image and its mask."""
    return _cropped(crop_size, augment, seed)

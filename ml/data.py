"""Labelled images for training and the preprocessing every model input goes through.

A :class:`LabelledImage` is one (H, W) uint8/uint16 image with its pixel size
and an order label and/or a (4, H, W) defect mask. They come from a folder
written by :mod:`simulation.dataset` (:func:`read_folder`) or from records the
platform hands over (:func:`make_record`: image bytes or pixels).

Preprocessing (Boiko et al. 2021: "all images scaled to the same absolute
size"): intensities are stretched to [0, 1] between robust percentiles, the
image is resampled by ``pixel_size_nm / target_nm_per_px`` so that every
model sees one physical scale, and line labels are redrawn at that scale with
the paper's width of half a particle diameter
(:func:`simulation.surface.line_width_px`). :func:`prepare_records` does this
once per record (:class:`PreparedImage`), so that cross-validation folds share
the work; :class:`OrderDataset` and :class:`DefectDataset` cut augmented
training crops from prepared images.
"""

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from analysis.defects import DEFECT_CLASSES, LINE_CLASSES, channel
from analysis.semfile import decode_sidecar, read_sem
from ml.augment import classifier_augmentation, segmenter_augmentation
from simulation.surface import surface_from_layers

#: Order labels: 1 = ordered (defects), 0 = disordered.
ORDER_LABELS = {"ordered": 1, "disordered": 0}
# Inputs are (unit - mean) / std, so that a typical SEM image is roughly zero-centred.
INPUT_MEAN = 0.5
INPUT_STD = 0.25
# Percentiles that map to 0 and 1: robust to hot pixels and to 16-bit images
# that use a small part of their range.
_INTENSITY_PERCENTILES = (0.1, 99.9)


@dataclass(frozen=True)
class LabelledImage:
    """One image and what is known about it.

    Attributes:
        image: (H, W) uint8 or uint16 pixels.
        pixel_size_nm: nm per pixel, or ``None`` (the image is used at its own scale).
        label: 1 ordered, 0 disordered, ``None`` unlabelled.
        mask: (4, H, W) bool defect layers in ``DEFECT_CLASSES`` order, or ``None``.
        key: identifier for reports (file name, primary key).
    """

    image: np.ndarray
    pixel_size_nm: float | None
    label: int | None = None
    mask: np.ndarray | None = None
    key: str = ""


def make_record(
    image: bytes | np.ndarray,
    pixel_size_nm: float | None = None,
    *,
    label: int | str | bool | None = None,
    mask: np.ndarray | None = None,
    key: str = "",
    sidecar_text: str | None = None,
) -> LabelledImage:
    """Build a :class:`LabelledImage` from what the platform stores.

    Args:
        image: file bytes (TIFF, PNG, JPEG; decoded by :func:`analysis.semfile.read_sem`)
            or (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel; ``None`` takes the file's metadata when
            ``image`` is bytes, else leaves the image at its own scale.
        label: ``"ordered"``/``"disordered"``, bool or 1/0; ``None`` if unknown.
        mask: (4, H, W) defect layers (bool or 0/nonzero) in ``DEFECT_CLASSES`` order.
        key: identifier for reports.
        sidecar_text: Hitachi sidecar text that goes with ``image`` bytes.

    Raises:
        ValueError: wrong image or mask shape, or unknown label.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        decoded = read_sem(bytes(image), sidecar_text=sidecar_text)
        pixels = decoded.pixels
        if pixel_size_nm is None:
            pixel_size_nm = decoded.metadata.pixel_size_nm
    else:
        pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"image must be (H, W) uint8 or uint16, got {pixels.shape} {pixels.dtype}")
    if mask is not None:
        mask = np.asarray(mask) != 0
        if mask.shape != (len(DEFECT_CLASSES), *pixels.shape):
            raise ValueError(
                f"mask must be (4, {pixels.shape[0]}, {pixels.shape[1]}), got {mask.shape}"
            )
    return LabelledImage(pixels, pixel_size_nm, _order_label(label), mask, key)


def _order_label(label: int | str | bool | None) -> int | None:
    if label is None:
        return None
    if isinstance(label, str):
        if label not in ORDER_LABELS:
            raise ValueError(
                f"unknown order label {label!r}; expected one of {', '.join(ORDER_LABELS)}"
            )
        return ORDER_LABELS[label]
    if int(label) not in (0, 1):
        raise ValueError(f"order label must be 0 or 1, got {label!r}")
    return int(label)


def read_folder(directory: str | Path, *, masks: bool = True) -> list[LabelledImage]:
    """Read a data set written by :func:`simulation.dataset.write_dataset`.

    Images are decoded with their Hitachi sidecars exactly as uploads are; a
    data bar under the field is cut off so that images and masks align.

    Args:
        directory: folder holding ``manifest.json``.
        masks: also read the four mask PNGs of every image.

    Returns:
        One record per manifest item, in manifest order, keyed by image file name.
    """
    folder = Path(directory)
    manifest = json.loads((folder / "manifest.json").read_text())
    field_height = int(manifest["shape"][0])
    records = []
    for item in manifest["items"]:
        sidecar = decode_sidecar((folder / item["sidecar"]).read_bytes())
        decoded = read_sem((folder / item["image"]).read_bytes(), sidecar_text=sidecar)
        pixel_size_nm = decoded.metadata.pixel_size_nm or item["pixel_size_nm"]
        mask = None
        if masks:
            mask = np.stack(
                [
                    cv2.imread(str(folder / item["masks"][name]), cv2.IMREAD_GRAYSCALE) > 0
                    for name in DEFECT_CLASSES
                ]
            )
        records.append(
            make_record(
                decoded.pixels[:field_height],
                pixel_size_nm,
                label=item["class"],
                mask=mask,
                key=item["image"],
            )
        )
    return records


def scale_factor(pixel_size_nm: float | None, target_nm_per_px: float) -> float:
    """Resampling factor that takes an image from ``pixel_size_nm`` to ``target_nm_per_px``.

    ``None`` (unknown pixel size) gives 1: the image is used as it is.
    """
    if pixel_size_nm is None:
        return 1.0
    if pixel_size_nm <= 0 or target_nm_per_px <= 0:
        raise ValueError("pixel_size_nm and target_nm_per_px must be positive")
    return pixel_size_nm / target_nm_per_px


def scaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` resampled by ``factor`` (at least 1 px each)."""
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def unit_intensity(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1], stretched between the image's 0.1 and 99.9 percentiles."""
    pixels = np.asarray(image, np.float32)
    low, high = np.percentile(pixels, _INTENSITY_PERCENTILES)
    if high <= low:
        return np.zeros(pixels.shape, np.float32)
    return np.clip((pixels - np.float32(low)) / np.float32(high - low), 0.0, 1.0)


def resize(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a float (H, W) or (C, H, W) array to ``shape``: area if shrinking, else linear."""
    if array.shape[-2:] == tuple(shape):
        return array
    shrinking = shape[0] * shape[1] < array.shape[-2] * array.shape[-1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    size = (shape[1], shape[0])
    if array.ndim == 2:
        return cv2.resize(array, size, interpolation=interpolation)
    return np.stack([cv2.resize(layer, size, interpolation=interpolation) for layer in array])


def prepare_image(
    image: np.ndarray, pixel_size_nm: float | None, target_nm_per_px: float
) -> np.ndarray:
    """Model-scale image: unit intensities resampled to ``target_nm_per_px``.

    Args:
        image: (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel of ``image``; ``None`` keeps its scale.
        target_nm_per_px: the model's scale, nm per pixel.

    Returns:
        (h, w) float32 in [0, 1], h ≈ H · pixel_size_nm / target_nm_per_px.

    Example:
        >>> prepare_image(np.zeros((100, 200), np.uint8), 1.0, 2.0).shape
        (50, 100)
    """
    factor = scale_factor(pixel_size_nm, target_nm_per_px)
    return resize(unit_intensity(image), scaled_shape(image.shape, factor))


def prepare_mask(
    mask: np.ndarray,
    pixel_size_nm: float | None,
    target_nm_per_px: float,
    particle_diameter_nm: float = 3.0,
) -> np.ndarray:
    """Model-scale defect labels, line layers redrawn half a particle diameter wide.

    Line layers are resampled (any coverage counts), then thinned and dilated
    by :func:`simulation.surface.surface_from_layers` to
    :func:`simulation.surface.line_width_px` at the target scale; point
    defects keep their area (half coverage counts).

    Args:
        mask: (4, H, W) bool layers in ``DEFECT_CLASSES`` order.
        pixel_size_nm: nm per pixel of ``mask``; ``None`` keeps its scale
            (the line width is then computed at ``target_nm_per_px``).
        target_nm_per_px: the model's scale, nm per pixel.
        particle_diameter_nm: particle diameter that sets the line width, nm.

    Returns:
        (4, h, w) uint8 0/1, the same (h, w) as :func:`prepare_image` gives.
    """
    factor = scale_factor(pixel_size_nm, target_nm_per_px)
    shape = scaled_shape(mask.shape[1:], factor)
    scaled = resize(np.asarray(mask, np.float32), shape)
    out = np.zeros((len(DEFECT_CLASSES), *shape), np.uint8)
    line_channels = {channel(name) for name in LINE_CLASSES}
    for index in range(len(DEFECT_CLASSES)):
        if index not in line_channels:
            out[index] = scaled[index] >= 0.5
            continue
        single = np.zeros_like(out, dtype=bool)
        single[index] = scaled[index] > 1e-3
        surface = surface_from_layers(single, target_nm_per_px, particle_diameter_nm)
        out[index] = surface == index + 1
    return out


def to_tensor(unit: np.ndarray) -> torch.Tensor:
    """Network input from unit-intensity images.

    Args:
        unit: (h, w) or (N, h, w) float in [0, 1].

    Returns:
        (1, 1, h, w) or (N, 1, h, w) float32 tensor, ``(unit - 0.5) / 0.25``.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(unit, np.float32))
    tensor = tensor[None, None] if tensor.ndim == 2 else tensor[:, None]
    return (tensor - INPUT_MEAN) / INPUT_STD


@dataclass(frozen=True)
class PreparedImage:
    """A labelled image at a model's scale, prepared once and reused (e.g. across folds).

    Attributes:
        unit: (h, w) float16 unit-intensity image (:func:`prepare_image`).
        target_nm_per_px: the scale it was prepared for, nm per pixel.
        label: 1 ordered, 0 disordered, ``None`` unlabelled.
        mask: (4, h, w) uint8 0/1 labels (:func:`prepare_mask`), or ``None``.
        key: the record's identifier.
    """

    unit: np.ndarray
    target_nm_per_px: float
    label: int | None = None
    mask: np.ndarray | None = None
    key: str = ""


def prepare_record(
    record: LabelledImage, target_nm_per_px: float, particle_diameter_nm: float | None = None
) -> PreparedImage:
    """Prepare one record; its mask too if ``particle_diameter_nm`` is given and it has one."""
    unit = prepare_image(record.image, record.pixel_size_nm, target_nm_per_px)
    mask = None
    if particle_diameter_nm is not None and record.mask is not None:
        mask = prepare_mask(
            record.mask, record.pixel_size_nm, target_nm_per_px, particle_diameter_nm
        )
    return PreparedImage(unit.astype(np.float16), target_nm_per_px, record.label, mask, record.key)


def prepare_records(
    records: Sequence[LabelledImage],
    target_nm_per_px: float,
    particle_diameter_nm: float | None = None,
    workers: int | None = None,
) -> list[PreparedImage]:
    """:func:`prepare_record` for many records, in threads (OpenCV and NumPy release the GIL).

    Args:
        records: the images.
        target_nm_per_px: the model's scale, nm per pixel.
        particle_diameter_nm: prepare masks with this line width rule; ``None``: no masks.
        workers: threads; ``None``: up to 8.

    Returns:
        One :class:`PreparedImage` per record, in order.
    """
    workers = workers or min(8, os.cpu_count() or 1)

    def prepare(record: LabelledImage) -> PreparedImage:
        return prepare_record(record, target_nm_per_px, particle_diameter_nm)

    if workers == 1 or len(records) < 2:
        return [prepare(record) for record in records]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(prepare, records))


class _CropDataset(Dataset):
    """Shared part of the training datasets: images as float32, crops per image, reseeding."""

    def __init__(self, items: Sequence[PreparedImage], samples_per_image: int, transform) -> None:
        # float32 once here, not per sample: augmentations need it, and converting
        # a whole large image for every crop would dominate loading.
        self.images = [item.unit.astype(np.float32) for item in items]
        self.samples_per_image = samples_per_image
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images) * self.samples_per_image

    def set_seed(self, seed: int) -> None:
        """Reseed the augmentation (called in each data-loader worker)."""
        self.transform.set_random_seed(seed)


class OrderDataset(_CropDataset):
    """Augmented square crops of labelled images, for classifier training.

    Args:
        items: prepared images (:func:`prepare_records`) with ``label`` set.
        crop_size: side of the crops, px at the model's scale.
        samples_per_image: crops per image per epoch.
        augment: apply :func:`ml.augment.classifier_augmentation`; else centre crops.
        seed: seed of the augmentation.

    Items are ``(image, label)``: (1, S, S) float32 and a scalar float32 (1 = ordered).
    """

    def __init__(
        self,
        items: Sequence[PreparedImage],
        crop_size: int = 256,
        samples_per_image: int = 1,
        augment: bool = True,
        seed: int | None = None,
    ) -> None:
        if any(item.label is None for item in items):
            raise ValueError("every record needs an order label")
        super().__init__(
            items, samples_per_image, classifier_augmentation(crop_size, augment=augment, seed=seed)
        )
        self.labels = np.array([item.label for item in items], np.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = index // self.samples_per_image
        crop = self.transform(image=self.images[i])["image"]
        return to_tensor(crop)[0], torch.tensor(self.labels[i])


class DefectDataset(_CropDataset):
    """Augmented crops of images and their defect masks, for segmenter training.

    Args:
        items: prepared images (:func:`prepare_records`) with ``mask`` set.
        crop_size: side of the crops, px at the model's scale (the paper: 192).
        samples_per_image: crops per image per epoch.
        augment: apply :func:`ml.augment.segmenter_augmentation`; else centre crops.
        seed: seed of the augmentation.

    Items are ``(image, mask)``: (1, S, S) float32 and (4, S, S) float32 0/1.
    """

    def __init__(
        self,
        items: Sequence[PreparedImage],
        crop_size: int = 192,
        samples_per_image: int = 8,
        augment: bool = True,
        seed: int | None = None,
    ) -> None:
        if any(item.mask is None for item in items):
            raise ValueError("every record needs a defect mask")
        super().__init__(
            items, samples_per_image, segmenter_augmentation(crop_size, augment=augment, seed=seed)
        )
        # Channels last, as albumentations expects multi-channel masks.
        self.masks = [np.ascontiguousarray(item.mask.transpose(1, 2, 0)) for item in items]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = index // self.samples_per_image
        out = self.transform(image=self.images[i], mask=self.masks[i])
        mask = torch.from_numpy(np.ascontiguousarray(out["mask"].transpose(2, 0, 1)))
        return to_tensor(out["image"])[0], mask.float()

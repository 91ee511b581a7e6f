"""Inference on full-resolution images: order score, defect maps, saliency, patch embeddings.

Every function takes an (H, W) uint8/uint16 image and its ``pixel_size_nm``
(``None``: use the image at its own scale), resamples it to the model's
``target_nm_per_px`` (:func:`ml.data.prepare_image`), and answers at the
original resolution. Models are put in eval mode and run under
``torch.inference_mode()`` (mixed precision on CUDA) on the device their
parameters are on; only :func:`order_with_saliency` needs gradients.

Example:
    >>> model = create_model("defect_segmenter", "fpn", "resnet34")
    >>> predict_defects(model, image, pixel_size_nm=0.99).shape  # image: (890, 1280)
    (4, 890, 1280)
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ml.data import prepare_image, resize, scale_factor, to_tensor
from ml.device import autocast
from ml.embedder import PatchEmbedder
from ml.segmenters import INPUT_MULTIPLE

#: The classifiers' smallest workable input side, px at the model's scale (AlexNet's stride-4
#: stem and pools); smaller inputs are reflect-padded, and uploads need a field this large.
MIN_CLASSIFIER_SIDE_PX = 64


@dataclass(frozen=True)
class PatchEmbeddings:
    """Embeddings of the patches of one image on a regular grid.

    Attributes:
        vectors: (N, m) float32, unit L2 norm.
        positions_xy: (N, 2) int64 top-left x, y of each patch in original pixels.
        patch_size_px: patch side in original pixels.
    """

    vectors: np.ndarray
    positions_xy: np.ndarray
    patch_size_px: int


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def pad_to(unit: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad an (h, w) image at the bottom and right to at least (height, width)."""
    pad_y, pad_x = max(0, height - unit.shape[0]), max(0, width - unit.shape[1])
    if not pad_y and not pad_x:
        return unit
    return np.pad(unit, ((0, pad_y), (0, pad_x)), mode="reflect")


def score_prepared(
    model: nn.Module, units: Sequence[np.ndarray], batch_size: int = 8
) -> np.ndarray:
    """Order scores of model-scale images (:func:`ml.data.prepare_image` output).

    Images of the same shape are batched together.

    Args:
        model: an :class:`ml.classifiers.OrderClassifier`.
        units: (h, w) float32 unit-intensity images at the model's scale.
        batch_size: images per forward pass.

    Returns:
        (N,) float64 scores in (0, 1), in input order.
    """
    model.eval()
    device = _device_of(model)
    padded = [
        pad_to(u, max(u.shape[0], MIN_CLASSIFIER_SIDE_PX), max(u.shape[1], MIN_CLASSIFIER_SIDE_PX))
        for u in units
    ]
    scores = np.zeros(len(padded))
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, unit in enumerate(padded):
        by_shape.setdefault(unit.shape, []).append(index)
    with torch.inference_mode(), autocast(device):
        for indices in by_shape.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                x = to_tensor(np.stack([padded[i] for i in chunk])).to(device)
                scores[chunk] = torch.sigmoid(model(x).float()).cpu().numpy()
    return scores


def predict_order(model: nn.Module, image: np.ndarray, pixel_size_nm: float | None = None) -> float:
    """Degree of order S ∈ (0, 1) of one image (1 = ordered).

    Args:
        model: an :class:`ml.classifiers.OrderClassifier`.
        image: (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel; ``None`` uses the image at its own scale.
    """
    return float(
        score_prepared(model, [prepare_image(image, pixel_size_nm, model.target_nm_per_px)])[0]
    )


def predict_orders(
    model: nn.Module,
    images: Sequence[np.ndarray],
    pixel_sizes_nm: Sequence[float | None],
    batch_size: int = 8,
) -> np.ndarray:
    """(N,) order scores of several images; images of one shape and scale share batches."""
    units = [
        prepare_image(image, size, model.target_nm_per_px)
        for image, size in zip(images, pixel_sizes_nm, strict=True)
    ]
    return score_prepared(model, units, batch_size)


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """Tile side and start offsets that cover ``length`` with near-equal overlapping tiles.

    The side is a multiple of :data:`ml.segmenters.INPUT_MULTIPLE`; a length that
    fits in one tile gets a single (padded) tile.
    """
    if length <= tile:
        return math.ceil(length / INPUT_MULTIPLE) * INPUT_MULTIPLE, [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length + (count - 1) * overlap) / count / INPUT_MULTIPLE) * INPUT_MULTIPLE
    side = min(side, math.ceil(length / INPUT_MULTIPLE) * INPUT_MULTIPLE)
    starts = np.linspace(0, max(0, length - side), count).round().astype(int)
    return side, sorted(set(starts.tolist()))


def blend_ramp(side: int, overlap: int) -> np.ndarray:
    """(side,) blending weights of a tile along one axis.

    Near zero within ``overlap / 4`` of either end (where zero padding and the
    missing context spoil a CNN's output), then rising linearly to 1 at
    ``3 · overlap / 4``: the weights of two tiles that overlap by ``overlap``
    cross-fade and sum to 1. At the image border a lone tile's small weight
    cancels in the normalisation.
    """
    position = np.arange(side, dtype=np.float32)
    distance = np.minimum(position + 0.5, side - position - 0.5)
    return np.clip((distance - overlap / 4) / max(overlap / 2, 1), 1e-3, 1.0)


def segment_prepared(
    model: nn.Module,
    unit: np.ndarray,
    tile_size: int = 1536,
    overlap: int = 128,
    batch_size: int = 4,
) -> np.ndarray:
    """Defect probabilities of a model-scale image, tiled where it is large.

    An image up to ``tile_size`` on both sides runs in one pass; a larger one is
    cut into overlapping tiles whose probabilities are cross-faded over the
    overlap, ignoring each tile's outer quarter-overlap, so no seam shows.

    Args:
        model: a :class:`ml.segmenters.DefectSegmenter`.
        unit: (h, w) float32 unit-intensity image at the model's scale.
        tile_size: largest tile side, px (a multiple of 32 is used).
        overlap: overlap of neighbouring tiles, px.
        batch_size: tiles per forward pass.

    Returns:
        (4, h, w) float32 probabilities in [0, 1].
    """
    if overlap >= tile_size:
        raise ValueError("overlap must be smaller than tile_size")
    model.eval()
    device = _device_of(model)
    height, width = unit.shape
    tile_h, starts_y = tile_starts(height, tile_size, overlap)
    tile_w, starts_x = tile_starts(width, tile_size, overlap)
    padded = pad_to(unit, tile_h, tile_w)
    # Blending happens on the model's device: on a GPU, a large image's maps
    # would otherwise spend longer in NumPy than in the network.
    weight = torch.from_numpy(
        np.outer(blend_ramp(tile_h, overlap), blend_ramp(tile_w, overlap))
    ).to(device)
    total = torch.zeros((4, *padded.shape), dtype=torch.float32, device=device)
    weights = torch.zeros(padded.shape, dtype=torch.float32, device=device)
    corners = [(y, x) for y in starts_y for x in starts_x]
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(corners), batch_size):
            chunk = corners[start : start + batch_size]
            tiles = np.stack([padded[y : y + tile_h, x : x + tile_w] for y, x in chunk])
            probabilities = torch.sigmoid(model(to_tensor(tiles).to(device)).float())
            for (y, x), tile in zip(chunk, probabilities, strict=True):
                total[:, y : y + tile_h, x : x + tile_w] += tile * weight
                weights[y : y + tile_h, x : x + tile_w] += weight
        blended = (total / weights)[:, :height, :width]
    return blended.cpu().numpy()


def predict_defects(
    model: nn.Module,
    image: np.ndarray,
    pixel_size_nm: float | None = None,
    *,
    tile_size: int = 1536,
    overlap: int = 128,
    batch_size: int = 4,
) -> np.ndarray:
    """Per-class defect probability maps at the image's own resolution.

    Args:
        model: a :class:`ml.segmenters.DefectSegmenter`.
        image: (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel; ``None`` uses the image at its own scale.
        tile_size: largest tile side at the model's scale, px (bounds memory).
        overlap: tile overlap at the model's scale, px.
        batch_size: tiles per forward pass.

    Returns:
        (4, H, W) float32 in [0, 1], channels in ``DEFECT_CLASSES`` order.
    """
    unit = prepare_image(image, pixel_size_nm, model.target_nm_per_px)
    probabilities = segment_prepared(model, unit, tile_size, overlap, batch_size)
    return np.clip(resize(probabilities, image.shape), 0.0, 1.0)


def order_with_saliency(
    model: nn.Module, image: np.ndarray, pixel_size_nm: float | None = None
) -> tuple[float, np.ndarray]:
    """Order score and its vanilla-gradient saliency (Boiko et al. 2021, Fig. 7) in one pass.

    The score comes from the same float32 forward pass that the gradient
    |d score / d pixel| is taken through, so an analysis needs no second
    forward pass. The gradient is resampled to the image's resolution and
    divided by its maximum.

    Args:
        model: an :class:`ml.classifiers.OrderClassifier`.
        image: (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel; ``None`` uses the image at its own scale.

    Returns:
        (score in (0, 1), (H, W) float32 saliency in [0, 1]; all zero if the gradient vanishes).
    """
    model.eval()
    unit = prepare_image(image, pixel_size_nm, model.target_nm_per_px)
    height, width = unit.shape
    padded = pad_to(unit, MIN_CLASSIFIER_SIDE_PX, MIN_CLASSIFIER_SIDE_PX)
    x = to_tensor(padded).to(_device_of(model)).requires_grad_(True)
    with torch.enable_grad():
        score = torch.sigmoid(model(x)).sum()
        (gradient,) = torch.autograd.grad(score, x)
    magnitude = gradient[0, 0, :height, :width].abs().cpu().numpy().astype(np.float32)
    magnitude = np.clip(resize(magnitude, image.shape), 0.0, None)
    peak = float(magnitude.max())
    return float(score.detach()), (magnitude / peak if peak > 0 else magnitude)


def saliency_map(
    model: nn.Module, image: np.ndarray, pixel_size_nm: float | None = None
) -> np.ndarray:
    """(H, W) float32 saliency in [0, 1] of the order score; see :func:`order_with_saliency`."""
    return order_with_saliency(model, image, pixel_size_nm)[1]


def patch_embeddings(
    model: PatchEmbedder,
    image: np.ndarray,
    pixel_size_nm: float | None = None,
    *,
    patch_size_px: int | None = None,
    stride_px: int | None = None,
    batch_size: int = 32,
) -> PatchEmbeddings:
    """Embeddings of square patches on a regular grid over the image.

    Patches are cut at the model's scale, ``patch_size_px`` on a side (default: the
    model's :attr:`~ml.embedder.PatchEmbedder.patch_px`), every ``stride_px``
    (default: the model's ``stride_px``, half a patch) from the top-left corner; an
    image smaller than one patch is reflect-padded to one.

    Args:
        model: a :class:`ml.embedder.PatchEmbedder`.
        image: (H, W) uint8/uint16 pixels.
        pixel_size_nm: nm per pixel; ``None`` uses the image at its own scale.
        patch_size_px: patch side at the model's scale, px.
        stride_px: grid step at the model's scale, px.
        batch_size: patches per forward pass.

    Returns:
        :class:`PatchEmbeddings`, positions and patch size in original pixels.
    """
    patch_size_px = patch_size_px or model.patch_px
    stride = stride_px or model.stride_px
    factor = scale_factor(pixel_size_nm, model.target_nm_per_px)
    unit = pad_to(
        prepare_image(image, pixel_size_nm, model.target_nm_per_px), patch_size_px, patch_size_px
    )
    ys = range(0, unit.shape[0] - patch_size_px + 1, stride)
    xs = range(0, unit.shape[1] - patch_size_px + 1, stride)
    corners = [(y, x) for y in ys for x in xs]
    model.eval()
    device = _device_of(model)
    vectors = []
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(corners), batch_size):
            patches = np.stack(
                [
                    unit[y : y + patch_size_px, x : x + patch_size_px]
                    for y, x in corners[start : start + batch_size]
                ]
            )
            vectors.append(model(to_tensor(patches).to(device)).float().cpu().numpy())
    positions = np.array([(round(x / factor), round(y / factor)) for y, x in corners], np.int64)
    return PatchEmbeddings(
        vectors=np.concatenate(vectors).astype(np.float32),
        positions_xy=positions.reshape(-1, 2),
        patch_size_px=round(patch_size_px / factor),
    )

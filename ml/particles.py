"""Particle segmentation at native resolution: model, training, tiled inference, instances.

Particles in SEM images of Pd on carbon are 1-20 px across, so the images are
used at their own scale (no resampling): a small-encoder smp U-Net maps one
grey channel to two logits per pixel, particle and particle core (a disc of
:data:`CORE_FRACTION` of the particle's diameter, :func:`core_mask`),
trained from a lab's particle labels with BCE + Dice per channel on augmented
crops (flips, 90° rotations, scale 0.8-1.25, contrast and gamma, Gaussian
blur, Gaussian noise). Probabilities of a whole image come from overlapping
tiles (:func:`predict_particles`); particles are the thresholded particle
map, one per core blob, grown by the watershed
(:func:`analysis.particlelabels.seeded_instances`,
:func:`particles_from_probability`). :func:`cross_validate_particle_segmenter`
scores k folds with :func:`analysis.particlescore.pooled`.

U-Net rather than FPN by default: FPN predicts at a quarter of the resolution
and upsamples, which blurs 2 px particles together; U-Net's skips keep the
half-resolution detail. Encoder ``mobilenet_v2`` by default: one training
step on 8 crops of 160² px took 1.5 s against ``resnet18``'s 5.6 s (2 shared
CPU cores), and a 10-minute, 2-core budget is counted in steps. The core
channel is for touching particles, which a thresholded map merges without a
neck to split at: in ``bench/bench_particle_segmenter.py`` (8 minutes on 2
cores, the same run conditions) it raised recall on the 20 held-out scenes
from 0.72 to 0.79 and F1 from 0.81 to 0.85; targets with 1 px contact gaps
(:func:`separated_mask`) had changed F1 by less than 0.01.

Example:
    >>> model, result = train_particle_segmenter(images, masks, ParticleTrainConfig(minutes=8))
    >>> found = particles_from_probability(predict_particles(model, image))
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from analysis.particlelabels import (
    DEFAULT_SPLIT_DEPTH_PX,
    LabelledParticles,
    disc_mask,
    particle_instances,
    particles_from_labels,
    particles_from_mask,
    seeded_instances,
)
from analysis.particles import Particles
from analysis.particlescore import ParticleScore, pooled, score_particles

# ml.augment switches off albumentations' update check (a PyPI request) before importing it.
from ml.augment import A, window_side
from ml.data import to_tensor, unit_intensity
from ml.device import autocast
from ml.inference import blend_ramp, pad_to, tile_starts
from ml.spec import PARTICLE_SEGMENTER, ModelSpec

if TYPE_CHECKING:
    from ml.training import TrainConfig, TrainResult

#: Decoder architectures, as named in the registry.
ARCHITECTURES: dict[str, type[nn.Module]] = {"unet": smp.Unet, "fpn": smp.FPN}
#: Encoders small enough to train on a few CPU cores.
ENCODERS = ("mobilenet_v2", "resnet18", "resnet34")
DEFAULT_ENCODER = "mobilenet_v2"
#: U-Net encoder stages: four stride-2 stages see 16 px cells, enough context for
#: 20 px particles, and skip the deepest stage.
ENCODER_DEPTH = 4
#: U-Net decoder widths per stage, coarse to fine; narrow, since particles are simple shapes.
DECODER_CHANNELS = (128, 64, 32, 16)
#: Input sides must be multiples of this (``ENCODER_DEPTH`` stride-2 stages; FPN needs 32).
INPUT_MULTIPLE = 32
#: Probability at and above which a pixel is particle.
PARTICLE_THRESHOLD = 0.5
#: Core diameter as a fraction of the particle's (the second channel's target).
CORE_FRACTION = 0.4
#: Smallest core diameter, px.
MIN_CORE_DIAMETER_PX = 1.5

_SCALE = (0.8, 1.25)
_CONTRAST = 0.3
_GAMMA = (70, 140)
_BLUR_SIGMA = (0.3, 1.0)
_NOISE_STD = (0.01, 0.05)


class ParticleSegmenter(nn.Module):
    """One-channel image → particle (and core) logit maps, at the image's own resolution.

    Args:
        architecture: ``"unet"`` or ``"fpn"``.
        encoder: one of :data:`ENCODERS`.
        channels: 1, particle pixels; 2, particle pixels and particle cores
            (:func:`core_mask`), whose blobs seed the split of touching particles.

    Attributes:
        net: the smp model.
        spec: :class:`ml.spec.ModelSpec` that rebuilds this model.
    """

    def __init__(
        self, architecture: str = "unet", encoder: str = DEFAULT_ENCODER, channels: int = 1
    ) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 (particles) or 2 (and cores), got {channels}")
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown particle segmenter architecture {architecture!r}; expected one of "
                f"{', '.join(ARCHITECTURES)}"
            )
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")
        # FPN's decoder needs all five stages and sets its own widths.
        options = (
            {"encoder_depth": ENCODER_DEPTH, "decoder_channels": DECODER_CHANNELS}
            if architecture == "unet"
            else {}
        )
        self.net = ARCHITECTURES[architecture](
            encoder_name=encoder, encoder_weights=None, in_channels=1, classes=channels, **options
        )
        self.spec = ModelSpec(PARTICLE_SEGMENTER, architecture, encoder, {"channels": channels})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Particle logits.

        Args:
            x: (N, 1, H, W) float images normalised as :func:`ml.data.to_tensor`
                does; H and W multiples of :data:`INPUT_MULTIPLE`.

        Returns:
            (N, C, H, W) logits, C = ``channels``; ``torch.sigmoid`` gives probabilities.
        """
        return self.net(x)


def particle_transforms() -> list[A.BasicTransform]:
    """The augmentations particle detectors are trained with (no crops).

    Flips and 90° rotations (exact on the pixel grid), scale 0.8-1.25 with the
    mask resampled nearest, contrast and gamma, Gaussian blur and noise.
    """
    reflect = cv2.BORDER_REFLECT_101
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomRotate90(p=1.0),
        A.Affine(
            scale=_SCALE,
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
            border_mode=reflect,
            p=0.7,
        ),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=_CONTRAST, p=0.8),
        A.RandomGamma(gamma_limit=_GAMMA, p=0.5),
        A.GaussianBlur(blur_limit=(3, 5), sigma_limit=_BLUR_SIGMA, p=0.4),
        A.GaussNoise(std_range=_NOISE_STD, p=0.5),
    ]


def particle_augmentation(crop_px: int, *, seed: int | None = None) -> A.Compose:
    """Random augmented ``crop_px`` crops of a unit image and its particle mask.

    A window 1.5 × the crop is cut first and its centre kept after the
    transforms (as :mod:`ml.augment` does), so scaling shows no border.
    """
    window = window_side(crop_px)
    reflect = cv2.BORDER_REFLECT_101
    return A.Compose(
        [
            A.RandomCrop(window, window, pad_if_needed=True, border_mode=reflect),
            *particle_transforms(),
            A.CenterCrop(crop_px, crop_px),
        ],
        seed=seed,
    )


def core_mask(shape: tuple[int, int], particles: LabelledParticles) -> np.ndarray:
    """(H, W) bool cores of particles: discs of :data:`CORE_FRACTION` of each diameter.

    Cores of two touching particles (centres one mean diameter apart) stay
    apart by at least 0.6 of the smaller diameter, so each core blob marks
    one particle. Cores are at least :data:`MIN_CORE_DIAMETER_PX` across, so
    2 px particles keep a core pixel.
    """
    diameters = np.maximum(CORE_FRACTION * particles.diameters_px, MIN_CORE_DIAMETER_PX)
    return disc_mask(shape, particles.xy, diameters)


def separated_mask(mask: np.ndarray) -> np.ndarray:
    """A particle mask with a 1 px gap wherever two particles touch.

    Particles are the mask's instances (:func:`analysis.particlelabels.particle_instances`:
    blobs, touching ones split by the watershed); of two touching particles the one
    with the lower label loses its pixels along the contact, so the target
    shows the network where a neck should stay open. In the bench (8 minutes,
    2 cores) it changed F1 by less than 0.01, so training uses plain masks by
    default.

    Args:
        mask: (H, W) array, particle where nonzero; or (H, W) int instance labels
            (0 background), used as given.

    Returns:
        (H, W) bool.
    """
    labels = np.asarray(mask)
    if labels.dtype == bool or labels.max(initial=0) <= 1:
        labels = particle_instances(labels)
    higher_neighbour = ndimage.maximum_filter(labels, size=3) > labels
    return (labels > 0) & ~higher_neighbour


class ParticleDataset(Dataset):
    """Augmented crops of (image, particle mask) pairs at native resolution.

    Args:
        units: (H, W) float32 images in [0, 1] (:func:`ml.data.unit_intensity`).
        masks: (H, W) particle masks, nonzero on particles, same shapes as ``units``.
        crop_px: crop side, px (a multiple of :data:`INPUT_MULTIPLE`).
        samples_per_image: crops of each image per epoch.
        seed: seed of the augmentation.
        cores: (H, W) core masks (:func:`core_mask`), one per image, for a
            2-channel model; ``None`` for a 1-channel one.

    Items are ``(x, y)``: (1, crop, crop) normalised image, (C, crop, crop) 0/1
    float targets (particles, then cores).
    """

    def __init__(
        self,
        units: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        crop_px: int,
        samples_per_image: int,
        seed: int | None = None,
        cores: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.units = list(units)
        layers = [masks] if cores is None else [masks, cores]
        # (H, W, C) uint8 targets: albumentations moves every channel with the image.
        self.masks = [
            np.stack([np.asarray(layer != 0, np.uint8) for layer in stack], axis=-1)
            for stack in zip(*layers, strict=True)
        ]
        self.samples_per_image = samples_per_image
        self.transform = particle_augmentation(crop_px, seed=seed)

    def __len__(self) -> int:
        return len(self.units) * self.samples_per_image

    def set_seed(self, seed: int) -> None:
        """Reseed the augmentation (called in each data-loader worker)."""
        self.transform.set_random_seed(seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        which = index // self.samples_per_image
        out = self.transform(image=self.units[which], mask=self.masks[which])
        image = np.clip(out["image"], 0.0, 1.0)
        target = np.moveaxis(out["mask"], -1, 0).astype(np.float32)
        return to_tensor(image)[0], torch.from_numpy(target)


class ParticleLoss(nn.Module):
    """Sigmoid cross-entropy plus Dice loss of (N, C, H, W) logits and 0/1 targets, per channel.

    Dice keeps the few percent of particle pixels from being drowned by background.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dice = smp.losses.DiceLoss("binary", from_logits=True)

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return sum(
            F.binary_cross_entropy_with_logits(logits[:, c], masks[:, c])
            + self.dice(logits[:, c : c + 1], masks[:, c : c + 1])
            for c in range(logits.shape[1])
        )


@dataclass
class ParticleTrainConfig:
    """Settings of one particle-segmenter training run.

    Attributes:
        minutes: wall-clock budget, minutes; training stops after the first
            epoch that ends past it.
        crop_px: training crop side, px (multiple of :data:`INPUT_MULTIPLE`).
        batch_size: crops per step.
        samples_per_image: crops per image per epoch (short epochs keep the
            overshoot of the budget small).
        lr: Adam learning rate.
        max_epochs: most epochs, whatever the budget.
        seed: seed of weights, data order and augmentation.
        threads: torch intra-op threads while training; ``None``: all cores.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        architecture: ``"unet"`` or ``"fpn"``.
        encoder: one of :data:`ENCODERS`.
        separate_touching: train on :func:`separated_mask` targets (touching
            particles 1 px apart) rather than the masks as given.
        cores: train a second channel on particle cores (:func:`core_mask`),
            whose blobs split touching particles (:func:`particles_from_probability`).
    """

    minutes: float = 8.0
    crop_px: int = 96
    batch_size: int = 8
    samples_per_image: int = 16
    lr: float = 2e-3
    max_epochs: int = 10_000
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    architecture: str = "unet"
    encoder: str = DEFAULT_ENCODER
    separate_touching: bool = False
    cores: bool = True

    def train_config(self) -> "TrainConfig":
        """The :class:`ml.training.TrainConfig` of :func:`ml.training.fit` for this run."""
        from ml.training import TrainConfig

        return TrainConfig(
            epochs=self.max_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=None,
            seed=self.seed,
            device=self.device,
            amp=True,
            num_workers=0,
            crop_size=self.crop_px,
            samples_per_image=self.samples_per_image,
            progress=False,
            time_limit_s=self.minutes * 60.0,
        )


def train_particle_segmenter(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    config: ParticleTrainConfig | None = None,
    truths: Sequence[LabelledParticles] | None = None,
) -> tuple[ParticleSegmenter, "TrainResult"]:
    """Train a fresh particle segmenter on images and their particle masks.

    Args:
        images: (H, W) uint8/uint16 micrographs (or float in [0, 1]), native resolution.
        masks: (H, W) particle masks, nonzero on particles, one per image; or
            (H, W) int instance labels (0 background, 1..M), which
            :func:`separated_mask` uses as they are.
        config: :class:`ParticleTrainConfig`; defaults when ``None``.
        truths: the particles of each image, whose cores the second channel
            learns; ``None``: the masks' particles (touching ones split by
            :func:`analysis.particlelabels.particle_instances`).

    Returns:
        The model in eval mode (last epoch's weights) and the
        :class:`ml.training.TrainResult` (``history``: loss per epoch, ``wall_time_s``).
    """
    # ml.registry imports this module, and ml.training (through ml.persistence) imports it.
    from ml.registry import create_model
    from ml.training import fit, seed_everything

    config = config or ParticleTrainConfig()
    if len(images) != len(masks) or not images:
        raise ValueError("give one mask per image, and at least one image")
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    try:
        seed_everything(config.seed)
        model = create_model(
            PARTICLE_SEGMENTER, config.architecture, config.encoder, channels=1 + config.cores
        )
        cores = None
        if config.cores:
            truths = truths if truths is not None else [particles_from_mask(m) for m in masks]
            cores = [core_mask(m.shape, t) for m, t in zip(masks, truths, strict=True)]
        if config.separate_touching:
            masks = [separated_mask(mask) for mask in masks]
        dataset = ParticleDataset(
            [unit_intensity(image) for image in images],
            masks,
            config.crop_px,
            config.samples_per_image,
            seed=config.seed,
            cores=cores,
        )
        result = fit(model, dataset, ParticleLoss(), config.train_config())
    finally:
        torch.set_num_threads(previous)
    return model.eval(), result


def predict_particles(
    model: nn.Module,
    image: np.ndarray,
    tile_px: int = 256,
    overlap_px: int = 32,
    batch_size: int = 4,
) -> np.ndarray:
    """Particle (and core) probabilities of every pixel, from overlapping tiles, native scale.

    The image is stretched to [0, 1] as a whole (:func:`ml.data.unit_intensity`),
    given a reflected margin of ``overlap_px / 2``, reflect-padded to tiles
    whose sides are multiples of :data:`INPUT_MULTIPLE`, and the tiles'
    probabilities are cross-faded over their overlap, ignoring each tile's
    outer quarter-overlap (the blending of :func:`ml.inference.segment_prepared`).

    Args:
        model: a :class:`ParticleSegmenter`.
        image: (H, W) uint8/uint16 pixels (or float in [0, 1]).
        tile_px: largest tile side, px.
        overlap_px: overlap of neighbouring tiles, px.
        batch_size: tiles per forward pass.

    Returns:
        (C, H, W) float32 probabilities in [0, 1]: particle pixels, then, for
        a 2-channel model, particle cores.
    """
    if overlap_px >= tile_px:
        raise ValueError("overlap_px must be smaller than tile_px")
    model.eval()
    device = next(model.parameters()).device
    # A reflected margin gives particles at the border the context of a tile's
    # inside, and keeps the tiles' down-weighted outer rim off the image.
    margin = overlap_px // 2
    unit = np.pad(unit_intensity(image), margin, mode="reflect")
    height, width = unit.shape
    tile_h, starts_y = tile_starts(height, tile_px, overlap_px)
    tile_w, starts_x = tile_starts(width, tile_px, overlap_px)
    padded = pad_to(unit, tile_h, tile_w)
    weight = np.outer(blend_ramp(tile_h, overlap_px), blend_ramp(tile_w, overlap_px))
    total: np.ndarray | None = None
    weights = np.zeros(padded.shape, np.float32)
    corners = [(y, x) for y in starts_y for x in starts_x]
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(corners), batch_size):
            chunk = corners[start : start + batch_size]
            tiles = np.stack([padded[y : y + tile_h, x : x + tile_w] for y, x in chunk])
            logits = model(to_tensor(tiles).to(device)).float()
            probabilities = torch.sigmoid(logits).cpu().numpy()
            if total is None:
                total = np.zeros((probabilities.shape[1], *padded.shape), np.float32)
            for (y, x), tile in zip(chunk, probabilities, strict=True):
                total[:, y : y + tile_h, x : x + tile_w] += tile * weight
                weights[y : y + tile_h, x : x + tile_w] += weight
    probability = (total / weights)[:, margin : height - margin, margin : width - margin]
    return np.clip(probability, 0.0, 1.0)


def particles_from_probability(
    probability: np.ndarray,
    threshold: float = PARTICLE_THRESHOLD,
    *,
    split_depth_px: float = DEFAULT_SPLIT_DEPTH_PX,
    min_diameter_px: float = 0.0,
) -> LabelledParticles:
    """Particles of a probability map: threshold, then the watershed.

    With a core channel, each blob of cores above the threshold seeds one
    particle (:func:`analysis.particlelabels.seeded_instances`); without
    one, touching particles are split where the distance transform shows a
    neck (:func:`analysis.particlelabels.particle_instances`).

    Args:
        probability: (H, W) particle probabilities in [0, 1], or (2, H, W)
            particle and core probabilities (:func:`predict_particles`); a
            (1, H, W) map is the (H, W) one.
        threshold: probability at and above which a pixel is particle.
        split_depth_px: neck depth that splits touching particles, px
            (:func:`analysis.particlelabels.particle_instances`).
        min_diameter_px: particles with a smaller equivalent-circle diameter are dropped, px.

    Returns:
        :class:`analysis.particlelabels.LabelledParticles`: centroids and
        equivalent-circle diameters, px.
    """
    maps = np.asarray(probability)
    maps = maps[None] if maps.ndim == 2 else maps
    if maps.shape[0] == 2:
        found = particles_from_labels(seeded_instances(maps[0] >= threshold, maps[1] >= threshold))
    else:
        found = particles_from_mask(
            maps[0] >= threshold, split_touching=True, split_depth_px=split_depth_px
        )
    keep = found.diameters_px >= min_diameter_px
    return LabelledParticles(found.xy[keep], found.diameters_px[keep])


def segmented_particles(
    model: nn.Module, image: np.ndarray, pixel_size_nm: float, *, min_diameter_nm: float = 1.0
) -> Particles:
    """The segmenter's particles as the LoG detector reports them (centres px, diameters nm).

    Args:
        model: a :class:`ParticleSegmenter`.
        image: (H, W) uint8/uint16 field pixels, native resolution.
        pixel_size_nm: nm per px (> 0).
        min_diameter_nm: smaller particles are dropped, nm (the LoG detector's
            smallest diameter searched).

    Returns:
        Centres (N, 2) px and equivalent-circle diameters (N,) nm.
    """
    if not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm}")
    found = particles_from_probability(
        predict_particles(model, image), min_diameter_px=min_diameter_nm / pixel_size_nm
    )
    return Particles(positions_xy=found.xy, diameters_nm=found.diameters_px * pixel_size_nm)


def score_segmenter(
    model: nn.Module,
    images: Sequence[np.ndarray],
    truths: Sequence[LabelledParticles],
    threshold: float = PARTICLE_THRESHOLD,
) -> list[ParticleScore]:
    """Per-image :class:`analysis.particlescore.ParticleScore` of the model's particles."""
    scores = []
    for image, truth in zip(images, truths, strict=True):
        found = particles_from_probability(predict_particles(model, image), threshold)
        scores.append(score_particles(found.xy, found.diameters_px, truth.xy, truth.diameters_px))
    return scores


@dataclass
class ParticleFold:
    """One fold of :func:`cross_validate_particle_segmenter`.

    Attributes:
        fold: 1-based fold number.
        train_indices: images trained on (all of them for a band fold).
        test_indices: images scored (all of them for a band fold).
        scores: one :class:`analysis.particlescore.ParticleScore` per scored image.
        wall_time_s: training time, seconds.
        band: ``(j, k)`` when the j-th of k equal horizontal bands of every
            image was held out (1-based); ``None`` when whole images were.
    """

    fold: int
    train_indices: list[int]
    test_indices: list[int]
    scores: list[ParticleScore]
    wall_time_s: float
    band: tuple[int, int] | None = None


@dataclass
class ParticleCrossVal:
    """k folds of a particle segmenter; metrics pooled over every held-out image.

    Attributes:
        folds: one :class:`ParticleFold` per fold.
    """

    folds: list[ParticleFold] = field(default_factory=list)

    def pooled(self) -> dict[str, float]:
        """Precision, recall and F1 from the summed counts of all held-out images."""
        precision, recall, f1 = pooled([s for fold in self.folds for s in fold.scores])
        return {"precision": precision, "recall": recall, "f1": f1}

    def fold_metrics(self) -> list[dict[str, float | None]]:
        """Per fold: precision, recall and F1 pooled over its images; mean count error."""
        rows = []
        for fold in self.folds:
            precision, recall, f1 = pooled(fold.scores)
            errors = [s.count_error for s in fold.scores if s.count_error is not None]
            rows.append(
                {
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "count_error": float(np.mean(errors)) if errors else None,
                }
            )
        return rows

    def to_dict(self) -> dict:
        """JSON-friendly summary in the registry's cross-validation layout.

        ``mean`` and ``std`` of each fold metric, ``pooled`` precision, recall
        and F1 over every scored image, ``folds`` (metrics, images, band and
        training seconds of each) and ``wall_time_s`` (all folds' training).
        """
        rows = self.fold_metrics()
        names = rows[0].keys() if rows else ()
        values = {n: [r[n] for r in rows if r[n] is not None] for n in names}
        return {
            "mean": {n: float(np.mean(v)) if v else None for n, v in values.items()},
            "std": {n: float(np.std(v)) if v else None for n, v in values.items()},
            "pooled": self.pooled(),
            "folds": [
                {
                    "fold": fold.fold,
                    "train_indices": fold.train_indices,
                    "test_indices": fold.test_indices,
                    "band": list(fold.band) if fold.band is not None else None,
                    "wall_time_s": fold.wall_time_s,
                    **metrics,
                }
                for fold, metrics in zip(self.folds, rows, strict=True)
            ],
            "wall_time_s": sum(fold.wall_time_s for fold in self.folds),
        }


@dataclass(frozen=True)
class _Split:
    """What one fold trains on and scores: pieces of images, masks and true particles."""

    train_images: list[np.ndarray]
    train_masks: list[np.ndarray]
    train_truths: list[LabelledParticles]
    test_images: list[np.ndarray]
    test_truths: list[LabelledParticles]
    train_indices: list[int]
    test_indices: list[int]
    band: tuple[int, int] | None = None


def _image_splits(images, masks, truths, k: int, seed: int) -> list[_Split]:
    """k folds of whole images (every image held out once)."""
    from ml.crossval import kfold_splits  # imports ml.registry, which imports this module

    return [
        _Split(
            [images[i] for i in train],
            [masks[i] for i in train],
            [truths[i] for i in train],
            [images[i] for i in test],
            [truths[i] for i in test],
            train.tolist(),
            test.tolist(),
        )
        for train, test in kfold_splits(len(images), k, seed=seed)
    ]


def _band_splits(images, masks, truths, k: int) -> list[_Split]:
    """k folds of horizontal bands: fold j holds out band j of every image.

    For labs with fewer labelled images than folds (one image per material
    is common). The parts above and below the band are trained on as two
    images; the band is scored against the true particles whose centres lie
    in it (a particle cut by the band's edge may count as a false detection).
    """
    everything = list(range(len(images)))
    splits = []
    for band in range(k):
        split = _Split([], [], [], [], [], everything, everything, (band + 1, k))
        for image, mask, truth in zip(images, masks, truths, strict=True):
            edges = np.linspace(0, image.shape[0], k + 1).round().astype(int)
            top, bottom = int(edges[band]), int(edges[band + 1])
            if bottom - top < INPUT_MULTIPLE:
                raise ValueError(
                    f"a {image.shape[0]} px high image cannot be cut into {k} bands of at "
                    f"least {INPUT_MULTIPLE} px; use fewer folds or more images"
                )
            for start, stop in ((0, top), (bottom, image.shape[0])):
                if stop - start >= INPUT_MULTIPLE:
                    split.train_images.append(image[start:stop])
                    split.train_masks.append(mask[start:stop])
                    split.train_truths.append(_rows_of(truth, start, stop))
            split.test_images.append(image[top:bottom])
            split.test_truths.append(_rows_of(truth, top, bottom))
        splits.append(split)
    return splits


def _rows_of(particles: LabelledParticles, top: int, bottom: int) -> LabelledParticles:
    """The particles centred in rows top..bottom - 1, in the band's coordinates."""
    return particles.within(-np.inf, top - 0.5, np.inf, bottom - 0.5).moved(0.0, -top)


def cross_validate_particle_segmenter(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    k: int = 5,
    config: ParticleTrainConfig | None = None,
    truths: Sequence[LabelledParticles] | None = None,
) -> ParticleCrossVal:
    """k-fold cross-validation: train on k − 1 parts, score particles on the held-out part.

    With at least k images the folds hold out whole images; with fewer, each
    fold holds out one of k horizontal bands of every image (:func:`_band_splits`).

    Args:
        images: (H, W) micrographs at native resolution.
        masks: (H, W) particle masks, one per image.
        k: number of folds (at least 2).
        config: training settings of every fold (``minutes`` is per fold).
        truths: true particles per image; ``None``: the masks' particles
            (:func:`analysis.particlelabels.particles_from_mask`, touching ones split).

    Returns:
        :class:`ParticleCrossVal`; ``pooled()`` gives precision, recall and F1.

    Raises:
        ValueError: fewer than 2 folds, no images, or bands too thin for the images.
    """
    if k < 2 or not images:
        raise ValueError("cross-validation needs at least 2 folds and one image")
    config = config or ParticleTrainConfig()
    truths = list(truths) if truths is not None else [particles_from_mask(m) for m in masks]
    splits = (
        _image_splits(images, masks, truths, k, config.seed)
        if len(images) >= k
        else _band_splits(images, masks, truths, k)
    )
    result = ParticleCrossVal()
    for fold, split in enumerate(splits, start=1):
        model, trained = train_particle_segmenter(
            split.train_images, split.train_masks, config, split.train_truths
        )
        scores = score_segmenter(model, split.test_images, split.test_truths)
        result.folds.append(
            ParticleFold(
                fold,
                split.train_indices,
                split.test_indices,
                scores,
                trained.wall_time_s,
                split.band,
            )
        )
    return result

"""Training recipes chosen by device: the paper's on a GPU, one that learns on a few CPU cores.

A recipe fixes what the training request leaves open: the network (when the
request asks for ``"auto"``), the scale and crop the model works at, and the
optimiser's settings. The paper's recipe (ResNet34 at 2 nm/px on 256 px
crops, an FPN-SE-ResNet50 segmenter at 0.6 nm/px, Adam at a constant 1e-4)
reaches ROC AUC 1.0 in a few GPU epochs but trains ~9 crops/s on two CPU
cores, too few optimiser steps in minutes to learn anything. The CPU recipe
trains ~12 × more crops per second (102 vs 8.7 on 2 cores, ``bench/bench_cpu_recipe.py``):

* ResNet18 at 4 nm/px on 128 px crops: the same 512 nm of field per crop as
  the paper's crop, with chains of 3 nm particles still drawn as lines;
* bfloat16 autocast where the CPU computes it natively, channels-last memory;
* one learning-rate cycle (peak 1e-3) over the run's budget, epochs or time,
  so a run stopped by its time limit has annealed; no early stopping, and so
  no images held out of a fold's training to judge epochs by: its last epoch
  is kept (with a dozen labelled images, one held out judges nothing);
* an FPN-ResNet18 segmenter at 1.2 nm/px (a quarter of the paper's pixels).

The recipe a model version was trained with is stored in its metadata
(:meth:`Recipe.to_dict`).

Example:
    >>> recipe = recipe_for(torch.device("cpu"))
    >>> recipe.name, recipe.architecture("order_classifier", "auto")
    ('cpu', 'resnet18')
"""

from dataclasses import asdict, dataclass, replace

import torch

from ml.spec import DEFECT_SEGMENTER, ORDER_CLASSIFIER
from ml.training import TrainConfig

#: The architecture or encoder name that asks for the recipe's.
AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    """What a training run on one kind of device uses, per task.

    Attributes:
        name: ``"paper"`` or ``"cpu"``.
        classifier: order classifier architecture for ``"auto"``.
        classifier_nm_per_px: the classifier's scale, nm per pixel.
        classifier_crop_px: the classifier's training crop side, px at its scale.
        segmenter: defect segmenter architecture for ``"auto"``.
        segmenter_encoder: its encoder for ``"auto"``.
        segmenter_nm_per_px: the segmenter's scale, nm per pixel.
        segmenter_crop_px: the segmenter's training crop side, px at its scale.
        lr: Adam's learning rate (the peak of a one-cycle schedule).
        schedule: :data:`ml.training.SCHEDULES`.
        patience: early-stopping patience in epochs (``None``: none).
        validation_fraction: share of a fold's training images held out to choose its
            best epoch (0: none, the last epoch is kept).
        samples_per_image: crops per image per epoch (``None``: the task's default).
        channels_last: train in channels-last memory format.
        cpu_bf16: bfloat16 autocast on CPUs that compute it natively.
    """

    name: str
    classifier: str
    classifier_nm_per_px: float
    classifier_crop_px: int
    segmenter: str
    segmenter_encoder: str
    segmenter_nm_per_px: float
    segmenter_crop_px: int
    lr: float
    schedule: str
    patience: int | None
    validation_fraction: float
    samples_per_image: int | None
    channels_last: bool
    cpu_bf16: bool

    def architecture(self, task: str, requested: str) -> str:
        """``requested``, or the recipe's network for ``task`` when it is :data:`AUTO`."""
        if requested != AUTO:
            return requested
        return self.classifier if task == ORDER_CLASSIFIER else self.segmenter

    def encoder(self, task: str, requested: str | None) -> str | None:
        """``requested``, or the recipe's segmenter encoder when it is :data:`AUTO`."""
        if requested == AUTO:
            return self.segmenter_encoder if task == DEFECT_SEGMENTER else None
        return requested

    def model_kwargs(self, task: str) -> dict[str, float]:
        """Constructor arguments of a ``task`` model (its scale)."""
        if task == ORDER_CLASSIFIER:
            return {"target_nm_per_px": self.classifier_nm_per_px}
        return {"target_nm_per_px": self.segmenter_nm_per_px}

    def train_config(self, task: str, config: TrainConfig) -> TrainConfig:
        """``config`` with the recipe's settings where ``config`` leaves them to the task.

        Crop, crops per image and patience are the recipe's unless ``config`` sets them
        (patience ``None`` leaves it to the recipe); the learning rate, schedule and
        precision are always the recipe's.
        """
        crop = self.classifier_crop_px if task == ORDER_CLASSIFIER else self.segmenter_crop_px
        return replace(
            config,
            lr=self.lr,
            schedule=self.schedule,
            patience=self.patience if config.patience is None else config.patience,
            channels_last=self.channels_last,
            cpu_bf16=self.cpu_bf16,
            crop_size=config.crop_size or crop,
            samples_per_image=config.samples_per_image or self.samples_per_image,
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, as stored with a model version."""
        return asdict(self)


#: Boiko et al. (2021): their networks and scales, Adam at a constant 1e-4, patience 15.
PAPER = Recipe(
    name="paper",
    classifier="resnet34",
    classifier_nm_per_px=2.0,
    classifier_crop_px=256,
    segmenter="fpn",
    segmenter_encoder="se_resnet50",
    segmenter_nm_per_px=0.6,
    segmenter_crop_px=192,
    lr=1e-4,
    schedule="constant",
    patience=15,
    validation_fraction=0.15,
    samples_per_image=None,
    channels_last=False,
    cpu_bf16=False,
)
#: Two to a few dozen CPU cores (see the module docstring).
CPU = Recipe(
    name="cpu",
    classifier="resnet18",
    classifier_nm_per_px=4.0,
    classifier_crop_px=128,
    segmenter="fpn",
    segmenter_encoder="resnet18",
    segmenter_nm_per_px=1.2,
    segmenter_crop_px=128,
    lr=1e-3,
    schedule="one_cycle",
    patience=None,
    validation_fraction=0.0,
    samples_per_image=16,
    channels_last=True,
    cpu_bf16=True,
)
#: Recipes by name; ``"auto"`` is :func:`recipe_for` the training device.
RECIPES = {recipe.name: recipe for recipe in (PAPER, CPU)}


def recipe_for(device: torch.device, name: str = AUTO) -> Recipe:
    """The recipe ``name`` asks for; :data:`AUTO`: the paper's on CUDA, the CPU one elsewhere.

    Raises:
        ValueError: unknown name.
    """
    if name == AUTO:
        return PAPER if device.type == "cuda" else CPU
    if name not in RECIPES:
        raise ValueError(
            f"unknown training recipe {name!r}; expected one of {AUTO}, {', '.join(RECIPES)}"
        )
    return RECIPES[name]

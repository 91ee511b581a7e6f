"""The model registry and its one factory, :func:`create_model`.

:data:`MODELS` maps each task (the Django side's ModelTask strings) to its
architectures and, per architecture, the encoders it accepts (empty when the
architecture names the whole network). :func:`create_model` builds any of them
untrained; an unknown name fails with the list of valid ones.

Example:
    >>> model = create_model("defect_segmenter", "fpn", "se_resnet50")
    >>> model.spec.encoder
    'se_resnet50'
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ml import classifiers, particles, segmenters
from ml.classifiers import OrderClassifier
from ml.embedder import PatchEmbedder
from ml.particles import ParticleSegmenter
from ml.segmenters import DefectSegmenter
from ml.spec import (
    DEFECT_SEGMENTER,
    ORDER_CLASSIFIER,
    PARTICLE_SEGMENTER,
    PATCH_EMBEDDER,
    ModelSpec,
)


@dataclass(frozen=True)
class TaskModels:
    """The models of one task.

    Attributes:
        builder: constructor, called as ``builder(architecture, **kwargs)`` or,
            for architectures with encoders, ``builder(architecture, encoder, **kwargs)``.
        architectures: architecture name → accepted encoder names (empty: no encoder).
        default_encoder: encoder used when none is given, for architectures that take one.
    """

    builder: Callable[..., nn.Module]
    architectures: dict[str, tuple[str, ...]]
    default_encoder: str | None = None


MODELS: dict[str, TaskModels] = {
    ORDER_CLASSIFIER: TaskModels(OrderClassifier, {name: () for name in classifiers.ARCHITECTURES}),
    DEFECT_SEGMENTER: TaskModels(
        DefectSegmenter,
        {name: segmenters.ENCODERS for name in segmenters.ARCHITECTURES},
        segmenters.DEFAULT_ENCODER,
    ),
    PATCH_EMBEDDER: TaskModels(PatchEmbedder, {name: () for name in classifiers.ARCHITECTURES}),
    PARTICLE_SEGMENTER: TaskModels(
        ParticleSegmenter,
        {name: particles.ENCODERS for name in particles.ARCHITECTURES},
        particles.DEFAULT_ENCODER,
    ),
}


def create_model(
    task: str, architecture: str, encoder: str | None = None, **kwargs: Any
) -> nn.Module:
    """Build an untrained model; no weights are downloaded.

    Args:
        task: ``"order_classifier"``, ``"defect_segmenter"``, ``"patch_embedder"`` or
            ``"particle_segmenter"``.
        architecture: a name from ``MODELS[task].architectures``.
        encoder: for segmenters, one of the architecture's encoders (default
            ``resnet34``; ``mobilenet_v2`` for particles); ``None`` (or ``""``, as
            a database stores "none") for the other tasks.
        **kwargs: constructor arguments of the model class (e.g. ``dropout``,
            ``target_nm_per_px``, ``dim``).

    Returns:
        The model, in training mode on the CPU, with ``model.spec`` set.

    Raises:
        ValueError: unknown task, architecture or encoder; the message lists the valid names.
    """
    if task not in MODELS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(MODELS)}")
    entry = MODELS[task]
    if architecture not in entry.architectures:
        raise ValueError(
            f"unknown {task} architecture {architecture!r}; valid architectures: "
            f"{', '.join(entry.architectures)}"
        )
    encoders = entry.architectures[architecture]
    encoder = encoder or None
    if not encoders:
        if encoder is not None:
            raise ValueError(
                f"{task} {architecture!r} takes no encoder (got {encoder!r}); valid encoders: none"
            )
        return entry.builder(architecture, **kwargs)
    encoder = entry.default_encoder if encoder is None else encoder
    if encoder not in encoders:
        raise ValueError(
            f"unknown encoder {encoder!r} for {task} {architecture!r}; valid encoders: "
            f"{', '.join(encoders)}"
        )
    return entry.builder(architecture, encoder, **kwargs)


def create_from_spec(spec: ModelSpec) -> nn.Module:
    """Rebuild an untrained model from its :class:`ml.spec.ModelSpec`."""
    return create_model(spec.task, spec.architecture, spec.encoder, **spec.kwargs)


def registered_models() -> list[tuple[str, str, str | None]]:
    """Every valid ``(task, architecture, encoder)`` combination, in registry order."""
    return [
        (task, architecture, encoder)
        for task, entry in MODELS.items()
        for architecture, encoders in entry.architectures.items()
        for encoder in (encoders or (None,))
    ]

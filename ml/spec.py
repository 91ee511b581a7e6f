"""What rebuilds a model: its task, architecture, encoder and constructor arguments.

Every NanoMark model carries a :class:`ModelSpec` as ``model.spec``;
:func:`ml.persistence.save_model` writes it to ``config.json`` and
:func:`ml.registry.create_model` rebuilds the model from it.
"""

from dataclasses import dataclass, field
from typing import Any

#: Task names, the same strings as the Django side's ModelTask.
ORDER_CLASSIFIER = "order_classifier"
DEFECT_SEGMENTER = "defect_segmenter"
PATCH_EMBEDDER = "patch_embedder"
PARTICLE_SEGMENTER = "particle_segmenter"
TASKS = (ORDER_CLASSIFIER, DEFECT_SEGMENTER, PATCH_EMBEDDER, PARTICLE_SEGMENTER)


@dataclass(frozen=True)
class ModelSpec:
    """Build recipe of one model.

    Attributes:
        task: one of :data:`TASKS`.
        architecture: network name within the task, e.g. ``"resnet34"`` or ``"fpn"``.
        encoder: segmentation encoder name (``"se_resnet50"``), ``None`` for the other tasks.
        kwargs: JSON-friendly keyword arguments of the model's constructor.
    """

    task: str
    architecture: str
    encoder: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, as in ``config.json``."""
        return {
            "task": self.task,
            "architecture": self.architecture,
            "encoder": self.encoder,
            "kwargs": dict(self.kwargs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        """Inverse of :meth:`to_dict`."""
        return cls(
            task=data["task"],
            architecture=data["architecture"],
            encoder=data.get("encoder"),
            kwargs=dict(data.get("kwargs") or {}),
        )
